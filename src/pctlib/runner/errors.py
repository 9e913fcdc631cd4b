"""The runner's error types, in a module of their own so that the command line can catch them without importing
jupytext, nbformat or papermill (seconds of start-up) for commands that never touch a notebook."""


class ParamsError(ValueError):
    """A params file that cannot be run; the message names the offending key."""


class NotebookError(ValueError):
    """A notebook source the runner cannot use (no parameters cell, a parameter that is not a literal)."""


class BookError(RuntimeError):
    """The book cannot be built from the runs at hand."""
