"""The ``rpa`` command line."""
