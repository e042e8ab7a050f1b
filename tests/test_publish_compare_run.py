"""`scripts/publish_compare_run.py`: the model card's account of the run's
protocol names the unpruned run that taught it."""

import importlib.util
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "publish_compare_run", REPOSITORY / "scripts" / "publish_compare_run.py")
publish = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(publish)

PROTOCOL = {"train_images": 0, "val_images": 5000, "data": "cifar10-jpeg", "search_epochs": 2,
            "finetune_epochs": 10, "total_epochs": 12, "optimizer": "SGD", "lr": 0.01,
            "schedule": "cosine", "weight_decay": 0.0005, "batch_size": 128,
            "augment": "flip + crop", "distill": True, "distill_temperature": 4.0,
            "distill_weight": 0.7, "teacher": "unpruned"}


@pytest.mark.parametrize("teacher_model, expected", [
    ("/models/lat50/unpruned_s0.keras", "from the unpruned reference of seed 0 ("),
    ("/models/lat50/unpruned_s2.keras", "from the unpruned reference of seed 2 ("),
    ("/models/teacher.keras", "from the unpruned model teacher.keras ("),
    (None, "from the unpruned reference of the same seed ("),  # runs before teacher_model
])
def test_card_names_the_unpruned_run_that_taught(teacher_model, expected):
    text = publish._protocol_text(PROTOCOL, "dais", teacher_model)
    assert expected in text
    assert text.startswith("2 search + 10 fine-tune epochs (12 in total")
    assert "45,000 (the other 5,000 held out)" in text


def test_card_of_a_run_taught_by_the_pretrained_model_names_no_unpruned_run():
    text = publish._protocol_text(dict(PROTOCOL, teacher="pretrained"), "uniform",
                                  "/models/unpruned_s1.keras")
    assert "from the unpruned pretrained model" in text and "seed 1" not in text
    assert text.startswith("12 fine-tune epochs")
