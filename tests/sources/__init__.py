"""Tests of the bundled source plugins (a package, so its helper modules cannot clash with
another test folder's modules of the same name)."""
