"""Test doubles for Returnhub and its plugin authors: fake provider servers and event
factories. Nothing here is imported by the running hub."""
