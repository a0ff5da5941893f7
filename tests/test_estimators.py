"""One test suite run on every model's estimator (scikit-learn's conventions): parameters
through get_params/set_params and clone, no callbacks in fit, the same seed gives the same
fit, to_xarray survives a netCDF round trip, and an unfitted model says so in one line."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import xarray as xr
from sklearn.base import BaseEstimator, clone

from neurodag import store, synth
from neurodag.errors import InputError


def _glmhmm():
    from neurodag.models.glmhmm import GLMHMM

    sim = synth.generate("spikes", seed=1, n_states=2, n_neurons=4, n_sequences=2, n_bins=200)
    return GLMHMM(n_states=2, link="sigmoid", max_iter=5, random_state=3), sim.data


def _ntf():
    from neurodag.models.ntf import DynamicConnectome

    x = np.random.default_rng(0).random((120, 5))
    return DynamicConnectome(window=20, rank=2, n_restarts=2, random_state=1), [x, x[::-1]]


def _trsa():
    from neurodag.models.rsa import TopologicalRSA

    sessions = [synth.eeg(seed=0, session=s, duration=12).data for s in ("01", "02")]
    return TopologicalRSA(step=0.5), sessions


MODELS = {"glmhmm": _glmhmm, "ntf": _ntf, "trsa": _trsa}


@pytest.fixture(scope="module", params=list(MODELS))
def model(request):
    est, data = MODELS[request.param]()
    return est, data, est.__class__(**est.get_params()).fit(data)


def _without_time(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != "created"}
    return ds


def test_parameters_follow_scikit_learn(model):
    est, _, _ = model
    assert isinstance(est, BaseEstimator)
    params = est.get_params()
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    key = "random_state" if "random_state" in params else "step"
    twin.set_params(**{key: 7 if key == "random_state" else 0.25})
    assert twin.get_params()[key] != params[key] and est.get_params() == params


def test_fit_takes_data_only_no_callbacks(model):
    est, _, _ = model
    names = set(inspect.signature(est.fit).parameters)
    assert not names & {"progress", "callback", "verbose"}, names


def test_the_same_parameters_give_the_same_fit(model):
    est, data, fitted = model
    again = clone(est).fit(data)
    xr.testing.assert_identical(_without_time(fitted.to_xarray()),
                                _without_time(again.to_xarray()))


def test_to_xarray_survives_a_netcdf_round_trip(model, tmp_path):
    _, _, fitted = model
    ds = fitted.to_xarray()
    back = store.read_netcdf(store.write_netcdf(ds, tmp_path / "fit.nc"))
    assert set(back.data_vars) == set(ds.data_vars) and dict(back.sizes) == dict(ds.sizes)
    for name, var in ds.data_vars.items():
        np.testing.assert_array_equal(back[name].values, var.values)
    np.testing.assert_equal({k: back.attrs[k] for k in ds.attrs}, dict(ds.attrs))


def test_an_unfitted_model_is_one_line(model):
    est, _, _ = model
    with pytest.raises(InputError, match="fit") as e:
        clone(est).to_xarray()
    assert "\n" not in str(e.value)
