"""Functional connectivity of fMRI sessions and the QC-FC benchmark of their denoising.

- :mod:`~neurodag.connectivity.atlas`: parcels (channels, regions, or an offline
  icosahedral parcellation of fsaverage5) and parcel-mean series;
- :mod:`~neurodag.connectivity.qcfc`: QC-FC (Ciric et al. 2017; Parkes et al. 2018);
- :mod:`~neurodag.connectivity.fc`: connectivity of every session and QC-FC, from their
  clean (and raw) stores -> the ``connectivity.nc`` Dataset and its metrics.

The step (``neurodag connectivity``) is :mod:`neurodag.steps.connectivity`.

>>> from neurodag.connectivity import fc
>>> ds, metrics = fc.run({"d/s1": clean1, "d/s2": clean2}, {"d/s1": raw1, "d/s2": raw2},
...                      kind="partial correlation")
"""
