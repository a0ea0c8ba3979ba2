"""The tagging model multiplies through NumPy's BLAS, on one thread, with BLIS's results."""

import numpy as np
import pytest
from thinc.api import NumpyOps, get_current_ops
from threadpoolctl import threadpool_info

from services.enrichment.taggers import ner
from services.enrichment.taggers.matmul import NumpyBlasOps


@pytest.fixture(scope="module")
def nlp():
    return ner.model()


def test_every_layer_of_the_model_multiplies_through_numpy(nlp):
    layers = [(name, layer) for name, pipe in nlp.pipeline if hasattr(pipe, "model") for layer in pipe.model.walk()]
    others = [(name, layer.name) for name, layer in layers if not isinstance(layer.ops, NumpyBlasOps)]
    assert len(layers) > 20
    # spaCy builds the entity recogniser's output layer on thinc's plain CPU ops itself
    # (``use_ops("cpu")``); the recogniser's steps run in compiled code.
    assert others == [("ner", "linear")]
    assert not isinstance(get_current_ops(), NumpyBlasOps)  # models built later are left as they were


def test_the_model_keeps_blas_to_one_thread(nlp):
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas
    assert {pool["num_threads"] for pool in blas} == {1}


@pytest.mark.parametrize("trans1, trans2", [(False, False), (False, True), (True, False), (True, True)])
def test_products_match_blis(trans1, trans2):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((288, 40) if trans1 else (40, 288), dtype=np.float32)
    y = rng.standard_normal((96, 288) if trans2 else (288, 96), dtype=np.float32)
    blis = NumpyOps().gemm(x, y, trans1=trans1, trans2=trans2)
    numpy = NumpyBlasOps().gemm(x, y, trans1=trans1, trans2=trans2)
    assert numpy.dtype == np.float32 and numpy.shape == (40, 96)
    np.testing.assert_allclose(numpy, blis, rtol=1e-4, atol=1e-4)
    out = np.empty((40, 96), dtype=np.float32)
    assert NumpyBlasOps().gemm(x, y, out=out, trans1=trans1, trans2=trans2) is out
    np.testing.assert_allclose(out, blis, rtol=1e-4, atol=1e-4)


def test_the_model_reads_the_same_entities(nlp):
    text = "LONDON (Reuters) - Britain's finance minister Rachel Reeves met Janet Yellen in Washington on Monday."
    entities = [(e.text, e.label_) for e in nlp(text).ents]
    assert ("Rachel Reeves", "PERSON") in entities and ("Janet Yellen", "PERSON") in entities
    assert ("Washington", "GPE") in entities
