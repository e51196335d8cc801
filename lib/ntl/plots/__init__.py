"""Figures for the notebooks, one module per stage: eda, preprocessing, modeling, evaluation.

Every function takes data, returns a matplotlib Figure and never calls ``plt.show()`` or writes
files, so notebooks decide what to show and the artifact store decides what to keep.
"""
