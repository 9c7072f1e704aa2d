"""The ``polmlip`` command line."""
