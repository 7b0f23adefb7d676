"""The image safety classifier in the worker: per-image verdicts from one call per batch,
computed on the device from the decoded pixels, published with each result."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
import redis
import torch
import torch.nn.functional as F
from PIL import Image
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from bot.requests.sources import normalise
from common.protocol import GenerationRequest, Result
from testing.jobs import job_context, job_queue, published
from testing.safety_models import save_classifier
from worker.config import ModelSettings, SafetySettings
from worker.engine import load_engine, set_engine
from worker.safety import SafetyChecker, load_checker, set_checker

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CPU = torch.device("cpu")


def _checker(path: Path, **settings: object) -> SafetyChecker:
    checker = load_checker(
        SafetySettings.model_validate({"safety_model_id": str(path), **settings}),
        CPU,
        torch.float32,
    )
    assert checker is not None
    return checker


@pytest.fixture(scope="module")
def random_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_classifier(tmp_path_factory.mktemp("random-head"))


def _pictures(count: int, size: int = 512) -> torch.Tensor:
    """Smooth random pictures, uint8 NCHW, each different."""
    coarse = torch.rand(count, 3, 8, 8, generator=torch.Generator().manual_seed(count)) * 255
    return F.interpolate(coarse, size=(size, size), mode="bilinear").round().to(torch.uint8)


@pytest.mark.parametrize("batch", [1, 8])
def test_one_call_gives_each_picture_its_own_score(random_head: Path, batch: int) -> None:
    checker = _checker(random_head)
    pictures = _pictures(batch)
    together = checker.check(pictures)
    alone = [checker.check(pictures[i : i + 1])[0] for i in range(batch)]
    assert len(together) == batch
    assert [v.score for v in together] == pytest.approx([v.score for v in alone], abs=1e-5)
    assert all(0.0 < v.score < 1.0 for v in together)
    if batch > 1:
        assert len({round(v.score, 6) for v in together}) > 1


def test_the_biased_classifiers_flag_everything_or_nothing(
    flag_all: Path, flag_none: Path
) -> None:
    pictures = _pictures(3)
    assert [v.flagged for v in _checker(flag_all).check(pictures)] == [True] * 3
    assert [v.flagged for v in _checker(flag_none).check(pictures)] == [False] * 3
    # The threshold decides: the same scores, read against a stricter one.
    assert not any(v.flagged for v in _checker(flag_all, safety_threshold=1.0).check(pictures))


@pytest.mark.parametrize(
    "problem_type", ["single_label_classification", "multi_label_classification"]
)
def test_a_score_is_the_models_probability_of_an_unsafe_label_and_flags_from_the_threshold(
    random_head: Path, tmp_path: Path, problem_type: str
) -> None:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(random_head).eval()
    model.config.problem_type = problem_type
    with torch.no_grad():  # logits far apart, so a softmax and a sigmoid tell apart
        model.classifier.weight.mul_(50)
        model.classifier.bias.copy_(torch.tensor([1.0, -0.5]))
    model.save_pretrained(tmp_path)
    processor = AutoImageProcessor.from_pretrained(random_head)
    processor.save_pretrained(tmp_path)
    pictures = _pictures(3)
    images = [Image.fromarray(row.permute(1, 2, 0).numpy()) for row in pictures]
    with torch.no_grad():
        logits = model(**processor(images=images, return_tensors="pt")).logits
    # Labels that exclude each other share one softmax; independent ones each a sigmoid.
    multi = problem_type == "multi_label_classification"
    nsfw = (logits.sigmoid() if multi else logits.softmax(dim=-1))[:, 1].tolist()
    scores = [v.score for v in _checker(tmp_path).check(pictures)]
    assert scores == pytest.approx(nsfw, abs=2e-3)
    # A score that reaches the threshold is flagged, one below it is not.
    verdicts = _checker(tmp_path, safety_threshold=scores[0]).check(pictures)
    assert [v.flagged for v in verdicts] == [score >= scores[0] for score in scores]
    assert verdicts[0].flagged


def test_on_device_preprocessing_matches_the_image_processor(random_head: Path) -> None:
    from transformers import AutoImageProcessor

    checker = _checker(random_head)
    pictures = _pictures(2)
    processor = AutoImageProcessor.from_pretrained(random_head)
    images = [Image.fromarray(row.permute(1, 2, 0).numpy()) for row in pictures]
    expected = processor(images=images, return_tensors="pt")["pixel_values"]
    ours = checker._inputs(pictures)
    assert ours.shape == expected.shape == (2, 3, 32, 32)
    # PIL's bilinear and torch's antialiased bilinear differ by well under one grey level.
    assert (ours - expected).abs().max() < 2 / 255


def test_unknown_labels_and_an_empty_model_id(random_head: Path) -> None:
    with pytest.raises(ValueError, match=r"SAFETY_LABELS \['porn'\] must name .*'nsfw'"):
        _checker(random_head, safety_labels="porn")
    assert load_checker(SafetySettings(safety_model_id=""), CPU, torch.float32) is None


def test_results_carry_verdicts_and_older_entries_read_as_unflagged() -> None:
    checked = Result(
        job_id="j", status="ok", image=b"a", more=(b"b",), scores=(0.9, 0.1), flagged=(True, False)
    )
    fields = {
        k.encode(): str(v).encode() if not isinstance(v, bytes) else v
        for k, v in checked.to_fields().items()
    }
    again = Result.from_fields(fields)
    assert (again.scores, again.flagged) == ((0.9, 0.1), (True, False))
    assert [again.is_flagged(i) for i in range(3)] == [True, False, False]
    plain = Result(job_id="j", status="ok", image=b"a")
    assert "flagged" not in plain.to_fields()
    assert not Result.from_fields({b"job_id": b"j", b"status": b"ok"}).is_flagged(0)


@pytest.fixture
def checking(tiny_model: Path, flag_all: Path) -> Iterator[None]:
    set_engine(load_engine(ModelSettings(model_id=str(tiny_model), device="cpu")))
    set_checker(_checker(flag_all))
    yield
    set_checker(None)


async def test_photo_and_album_jobs_publish_a_verdict_per_image(
    checking: None, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    photo, album = job_context("a fox", seed=1), job_context("a fox", action="album", count=3)
    for context in (photo, album):
        await job_queue(client).submit(context)
    queue = Queue("imagine", connection=client, serializer=JSONSerializer)
    SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(burst=True)
    results = {r.job_id: r for r in published(client)}
    assert results[photo.job_id].flagged == (True,)
    assert results[album.job_id].flagged == (True, True, True)
    assert all(score > 0.99 for score in results[album.job_id].scores)


def test_an_image_to_image_picture_is_checked_like_any_other(
    checking: None, redis_url: str
) -> None:
    """A photo someone sent, redrawn, is a new picture: it goes through the same classifier
    (here one that flags everything) and its result says so."""
    client = redis.Redis.from_url(redis_url)
    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 120, 40)).save(photo, format="JPEG")
    client.set("in:photo", normalise(photo.getvalue(), 50_000_000))
    queue = Queue("imagine", connection=client, serializer=JSONSerializer)
    request = GenerationRequest(prompt="a fox", seed=3, source="in:photo", strength=0.6)
    job = queue.enqueue_call("worker.play.render", kwargs={"requests": [request.model_dump()]})
    SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(burst=True)
    (result,) = [r for r in published(client) if r.job_id == job.id]
    assert result.status == "ok"
    assert result.flagged == (True,)
    assert result.scores[0] > 0.99
