"""benchmarks/official_hdmi.py: a killed run resumes to the same weights, and the runner
checks its inputs. The official HDMI code is not part of graphcl, so a stand-in package with
its interface (``models.hdmi.HDMI`` / ``modeler``, ``evaluate.evaluate``) plays its part."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

STAND_IN_MODELS = '''
import torch
from torch import nn


class HDMI:
    """The official embedder's interface: data, splits, sizes in args, get_loss."""

    def __init__(self, args):
        generator = torch.Generator().manual_seed(123)
        n, f = 12, 5
        self.features = torch.randn(n, f, generator=generator)
        adjacency = torch.eye(n) + (torch.rand(n, n, generator=generator) > 0.7).float()
        self.adj_list = [adjacency.to_sparse(), adjacency.t().to_sparse()]
        self.labels = torch.eye(3)[torch.arange(n) % 3]
        self.idx_train, self.idx_val, self.idx_test = (torch.arange(0, 4), torch.arange(4, 8),
                                                       torch.arange(8, 12))
        args.nb_nodes, args.ft_size = n, f
        self.criteria = nn.BCEWithLogitsLoss()

    def get_loss(self, logits):
        n = logits.shape[1]
        return self.criteria(logits, torch.stack((torch.ones(n), torch.zeros(n))))


class modeler(nn.Module):
    def __init__(self, ft_size, hid_units, n_networks, same_discriminator=True):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(ft_size, hid_units) for _ in range(n_networks))
        self.disc = nn.Linear(hid_units, 1)

    def forward(self, seq1, seq2, adj_list, sparse):
        logits = []
        for layer, adj in zip(self.layers, adj_list):
            h1 = torch.sparse.mm(adj, layer(seq1))
            h2 = torch.sparse.mm(adj, layer(seq2))
            logits.append(torch.stack((self.disc(h1).squeeze(1), self.disc(h2).squeeze(1))))
        return logits, logits, logits, logits[0], logits[1], logits[0]

    def embed(self, seq, adj_list, sparse):
        return sum(torch.sparse.mm(a, layer(seq)) for layer, a in zip(self.layers, adj_list))
'''

STAND_IN_EVALUATE = '''
def evaluate(embeds, idx_train, idx_val, idx_test, labels, isTest=True):
    return [0.5, 0.7], [0.6, 0.6], [float(embeds.abs().mean())]
'''


@pytest.fixture()
def runner(tmp_path, monkeypatch, load_benchmark):
    official = tmp_path / "official"
    (official / "models").mkdir(parents=True)
    (official / "data").mkdir()
    (official / "models" / "__init__.py").write_text("")
    (official / "models" / "hdmi.py").write_text(STAND_IN_MODELS)
    (official / "evaluate.py").write_text(STAND_IN_EVALUATE)
    (official / "data" / "imdb.pkl").write_bytes(b"")
    module = load_benchmark("official_hdmi")
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    monkeypatch.chdir(tmp_path)  # the runner changes into the official directory
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("models", "models.hdmi", "evaluate"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield module, official
    for name in ("models", "models.hdmi", "evaluate"):
        sys.modules.pop(name, None)


def train_for(module, official: Path, run_dir: Path, epochs: int) -> dict:
    HDMI, modeler, _ = module.official_modules(official)
    module.seed_everything(0)
    args = module.official_args(epochs, patience=100)
    return module.train(HDMI(args), modeler, args, run_dir, checkpoint_every=1)


def test_a_killed_run_resumes_to_the_same_weights(runner, tmp_path):
    module, official = runner
    straight = train_for(module, official, tmp_path / "straight", epochs=6)
    train_for(module, official, tmp_path / "killed", epochs=3)  # stops: the "kill"
    resumed = train_for(module, official, tmp_path / "killed", epochs=6)
    assert resumed["epoch"] == straight["epoch"] == 6
    assert resumed["best_epoch"] == straight["best_epoch"]
    assert resumed["best"] == straight["best"]
    weights = [torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["model"]
               for name in ("straight", "killed")]
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key
    for key, value in straight["best_state"].items():
        assert torch.equal(value, resumed["best_state"][key]), key


def test_graphcl_embeddings_are_scored_and_checked(runner, tmp_path):
    module, official = runner
    embeddings = tmp_path / "embeddings.pt"
    torch.save({"embeddings": torch.ones(12, 4), "dataset": "imdb-multiplex"}, embeddings)
    assert module.main(["--official-dir", str(official), "--evaluate-embeddings",
                        str(embeddings), "--tag", "_t"]) == 0
    record = (tmp_path / "gcool_imdb-multiplex_hdmi_evaluate_t.json").read_text()
    assert '"macro_f1"' in record and '"mean": 60.0' in record
    torch.save({"embeddings": torch.ones(11, 4), "dataset": "imdb-multiplex"}, embeddings)
    with pytest.raises(ValueError, match=r"expected \[12, d\] embeddings"):
        module.main(["--official-dir", str(official), "--evaluate-embeddings", str(embeddings)])


def test_a_missing_checkout_or_data_file_is_named(runner, tmp_path):
    module, official = runner
    with pytest.raises(FileNotFoundError, match="not a checkout of baoyujing/HDMI"):
        module.official_modules(tmp_path / "nowhere")
    (official / "data" / "imdb.pkl").unlink()
    with pytest.raises(FileNotFoundError, match="official_multiplex_data.py"):
        module.official_modules(official)
