"""LIME (Ribeiro et al., 2016) for one face crop: which patches of the face, greyed out, lower the fake
score the most. Model-agnostic, unlike Grad-CAM: it only calls the model, hundreds of times per face.

The crop is resized to the model's input, cut into superpixels (quickshift, LIME's default), and scored
with random subsets of them replaced by their mean colour; a weighted linear fit says how much each
superpixel raised the calibrated P(fake) (the fused score for a multi-head model). The heatmap holds the
positive weights, scaled to the largest. Cost: ``samples`` model calls (~10 s for 300 on one busy core),
so it runs on request, for one face at a time. Like Grad-CAM it tells which regions *this model* relied
on for *this crop*, not what was edited; patches follow colour edges, not facial parts.
"""

from __future__ import annotations

from unittest import mock

import numpy as np

from pipeline.classifier import FaceClassifier

SAMPLES = 300  # LIME's own default is 1000; 300 ranks the top superpixels the same on our faces, 3x sooner


def _fake_and_real(classifier: FaceClassifier):
    """LIME's classifier function: images (N, H, W, 3) -> (N, 2) of [P(real), P(fake)]."""
    def predict(images: np.ndarray) -> np.ndarray:
        fake = classifier.probabilities([np.asarray(image, np.uint8) for image in images])
        return np.stack([1 - fake, fake], axis=1)

    return predict


def lime_heat(classifier: FaceClassifier, crop: np.ndarray, samples: int = SAMPLES, seed: int = 0) -> np.ndarray:
    """The LIME heatmap of one square face crop (H, W, 3 uint8): float32 in [0, 1] at the model's input
    size (square), 1 on the superpixel that raised P(fake) most, 0 where none raised it."""
    from lime import lime_image

    image = classifier.fit(crop)
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    # lime 0.2 always draws a progress bar on stderr; a worker's log is no place for it.
    with mock.patch.object(lime_image, "tqdm", lambda rows: rows):
        found = explainer.explain_instance(image, _fake_and_real(classifier), labels=(1,), top_labels=None,
                                           num_samples=samples, batch_size=classifier.batch_size, random_seed=seed)
    weights = dict(found.local_exp[1])
    heat = np.vectorize(lambda segment: max(weights.get(segment, 0.0), 0.0))(found.segments).astype(np.float32)
    return heat / heat.max() if heat.max() > 0 else heat
