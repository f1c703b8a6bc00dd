"""A plug-in module that fails to import, as a broken installation would."""

raise ImportError("this example plug-in is broken on purpose")
