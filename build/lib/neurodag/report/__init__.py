"""Reports: one HTML page per dataset and an index of all datasets.

>>> from neurodag.report import pages
>>> pages.dataset_page("my_eeg", {"01": "results/my_eeg/01/raw.zarr"},
...                    "results/reports/my_eeg.html", config=cfg["datasets"]["my_eeg"])
>>> pages.index_page({"my_eeg": "results/reports/my_eeg.html"}, "results/reports/index.html")

Pages are static HTML with PNG figures and one CSS file: they open from the file system,
need no network and no JavaScript.
"""

__all__ = ["pages"]
