"""ocrlab: a text-line recognizer that reads with CTC and learns language in training through a
BLIP-2 Q-Former and a frozen causal language model."""

__version__ = "0.1.0"
