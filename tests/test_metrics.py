"""Metrics checked on examples small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.calibration import band, fit_temperature, fit_threshold, sigmoid
from pipeline.metrics import balanced_indices, binary_report, eer, expected_calibration_error, log_loss, roc_auc

LABELS = np.array([0, 0, 0, 1, 1, 1])
SCORES = np.array([0.1, 0.4, 0.7, 0.3, 0.8, 0.9])


def test_auc_counts_ordered_pairs():
    # 9 fake/real pairs; the fake scored 0.3 is below the reals 0.4 and 0.7: 7 of 9 pairs right.
    assert roc_auc(LABELS, SCORES) == pytest.approx(7 / 9)


def test_auc_ties_count_half():
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_report_at_threshold():
    r = binary_report(LABELS, SCORES, threshold=0.5)
    assert r["confusion"] == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["tnr"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    expected_ll = -np.mean(np.log([0.9, 0.6, 0.3, 0.3, 0.8, 0.9]))
    assert r["log_loss"] == pytest.approx(expected_ll)


def test_eer_where_error_rates_cross():
    # At threshold 0.7: FPR 1/3 (0.7), FNR 1/3 (0.3): equal.
    assert eer(LABELS, SCORES) == pytest.approx(1 / 3)


def test_ece_of_a_perfectly_calibrated_bin_is_zero():
    assert expected_calibration_error(np.array([1, 0, 1, 0]), np.full(4, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([1, 1]), np.array([0.75, 0.75])) == pytest.approx(0.25)


def test_log_loss_is_finite_at_extremes():
    assert np.isfinite(log_loss(np.array([1, 0]), np.array([0.0, 1.0])))


def test_balanced_indices_cut_the_larger_class():
    labels = np.array([1] * 10 + [0] * 4)
    picked = balanced_indices(labels, seed=3)
    assert len(picked) == 8 and labels[picked].sum() == 4


def test_temperature_recovers_the_scale_that_generated_the_labels():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < sigmoid(true_logits)).astype(int)
    # An over-confident model: logits three times too large.
    assert fit_temperature(3 * true_logits, labels) == pytest.approx(3.0, rel=0.08)


def test_threshold_and_bands():
    assert fit_threshold(LABELS, SCORES) in {0.8, 0.3, 0.7}
    assert band(0.9, (0.3, 0.7)) == "likely_fake"
    assert band(0.5, (0.3, 0.7)) == "uncertain"
    assert band(0.1, (0.3, 0.7)) == "likely_real"


def test_scikit_learn_metrics_agree_with_the_old_numpy_ones_on_the_dfdc_test_split():
    """The switch to scikit-learn changed no reported figure: both agree on real scores of real data."""
    from pipeline import load_classifier
    from pipeline.datasets import labelled_files
    from pipeline.evaluation import score_files
    from pipeline.metrics import roc_curve
    from tests import reference_metrics as old
    from tests.conftest import shared_path

    files = labelled_files(shared_path("data", "faces", "dfdc", "test"))
    labels = np.asarray(files.labels)
    scores = score_files(load_classifier("fast"), files.paths)
    assert len(labels) > 3000
    assert roc_auc(labels, scores) == pytest.approx(old.roc_auc(labels, scores), abs=1e-9)
    assert eer(labels, scores) == pytest.approx(old.eer(labels, scores), abs=1e-9)
    assert log_loss(labels, scores) == pytest.approx(old.log_loss(labels, scores), abs=1e-9)
    assert expected_calibration_error(labels, scores) == pytest.approx(
        old.expected_calibration_error(labels, scores), abs=1e-6)
    new_fpr, new_tpr, _ = roc_curve(labels, scores)
    old_fpr, old_tpr, _ = old.roc_curve(labels, scores)
    np.testing.assert_allclose(new_fpr, old_fpr)
    np.testing.assert_allclose(new_tpr, old_tpr)
