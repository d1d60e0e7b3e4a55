"""seqformer: long-sequence Transformers (BigBird, Performer, Longformer, ...) for DNA and proteins."""

__version__ = "0.1.0"
