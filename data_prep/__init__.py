"""Dataset builders: demo slices and task data folders cut from genomes and annotations.

Every task builder writes the one labelled-window format of :mod:`seqformer.data.windows`; the
``seqformer data ...`` verbs are :mod:`data_prep.cli`, which the package's entry point adds to the
``seqformer`` command. ``data_prep`` imports ``seqformer``, never the other way round.
"""

from data_prep.promoters import PromoterDataParams, PromoterDataset, build_promoter_dataset

__all__ = ["PromoterDataParams", "PromoterDataset", "build_promoter_dataset"]
