"""The customer portal's write side: the ``portal`` sink, core code registered as an internal
plugin (the pages that read its notices are in :mod:`hub.web.portal`, the table in
:mod:`hub.store.models`)."""
