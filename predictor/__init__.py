"""The accuracy predictor: student-to-graph encoding, the GNN meta-predictor and its estimator.

``predictor`` imports the core library (``distill``) and ``datasets_meta``, never ``search``.
"""
