"""Data preparation: demo slices and task datasets cut from genomes and annotations."""

from data_prep.promoters import (
    PromoterDataParams,
    PromoterDataset,
    build_promoter_dataset,
    read_windows,
)

__all__ = ["PromoterDataParams", "PromoterDataset", "build_promoter_dataset", "read_windows"]
