"""Report QA: cited answers from reports, offline.

Importing this package is cheap: heavy libraries (torch, sentence_transformers, faiss, gradio) are
imported inside the functions that need them.
"""

__version__ = "0.1.0"
