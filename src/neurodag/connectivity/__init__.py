"""Functional connectivity of fMRI sessions and the QC-FC benchmark of their denoising.

- :mod:`~neurodag.connectivity.atlas`: parcels (channels, regions, or an offline
  icosahedral parcellation of fsaverage5) and parcel-mean series;
- :mod:`~neurodag.connectivity.qcfc`: QC-FC (Ciric et al. 2017; Parkes et al. 2018);
- :mod:`~neurodag.connectivity.step`: the dataset-level step, ``clean.zarr`` of every
  session -> ``connectivity.nc`` + ``metrics.json``.

>>> from neurodag.connectivity import step
>>> ds, metrics = step.run(["results/d/s1/clean.zarr", "results/d/s2/clean.zarr"],
...                        kind="partial correlation")
"""
