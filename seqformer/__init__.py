"""seqformer: long-sequence Transformers (dense, BigBird, Performer (softmax and ReLU), Longformer, Nyströmformer, Reformer-LSH) for DNA and proteins."""

__version__ = "0.1.0"
