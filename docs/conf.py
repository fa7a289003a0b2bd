"""Sphinx configuration for convnet's documentation."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "convnet"
author = "the convnet developers"
copyright = "2026, the convnet developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
# Defaults as written in the source (W=init.GlorotUniform()), not as repr()s.
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
