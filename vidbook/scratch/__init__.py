"""Building blocks written from their formulas, for reading: convolution, pooling, activations,
losses, recurrent cells, attention and Transformer layers.

Each function or module here is short and says the shapes of its tensors; the tests prove every
one equal to PyTorch's own implementation (values and gradients). The models that train use
PyTorch's fast kernels; the chapters use these to show what those kernels compute.
"""
