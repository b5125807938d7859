"""The two faces of mapi for applications: the ``Flow`` API and MAPI's own calls."""
