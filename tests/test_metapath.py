"""Meta-path views: counts, PathSim pruning, normalization, contexts, schema, positives."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import AddMetaPaths
from torch_geometric.utils import coalesce

from graphcl.augment import (
    ChainedContextAggregation,
    ContextAggregation,
    MetaPathViews,
    aggregate_context,
    context_aggregations,
    metapath_adjacency,
    metapath_context,
    network_schema,
    normalize_adjacency,
    pathsim_top_k,
    positive_pairs,
    resolve_metapath,
)
from graphcl.nn import CSRGraph

pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks")

PAP = ("paper", "author", "paper")
PSP = ("paper", "subject", "paper")


def hetero_graph(relations: dict, counts: dict) -> HeteroData:
    """``relations``: ``{(src, dst): [2, E] tensor}``, added with their ``"to"`` reverses."""
    data = HeteroData()
    for node_type, count in counts.items():
        data[node_type].num_nodes = count
    for (source, target), edge_index in relations.items():
        data[source, "to", target].edge_index = edge_index
        data[target, "to", source].edge_index = edge_index.flip(0).contiguous()
    return data


def random_graph(seed: int = 0, duplicates: bool = False) -> HeteroData:
    gen = torch.Generator().manual_seed(seed)
    counts = {"paper": 30, "author": 20, "subject": 4, "venue": 3}

    def edges(n_src, n_dst, n):
        index = torch.stack([torch.randint(0, n_src, (n,), generator=gen),
                             torch.randint(0, n_dst, (n,), generator=gen)])
        return (index if duplicates else torch.unique(index, dim=1)).contiguous()

    return hetero_graph({("paper", "author"): edges(30, 20, 70),
                         ("paper", "subject"): edges(30, 4, 30),
                         ("paper", "venue"): edges(30, 3, 25)}, counts)


def dense(data: HeteroData, hops) -> np.ndarray:
    """Float64 dense product of the relation matrices (the reference)."""
    result = None
    for hop in hops:
        source, _, target = hop
        matrix = np.zeros((data[source].num_nodes, data[target].num_nodes))
        store = data[hop]
        weight = store.edge_weight.double().numpy() if "edge_weight" in store else \
            np.ones(store.edge_index.size(1))
        np.add.at(matrix, tuple(store.edge_index.numpy()), weight)
        result = matrix if result is None else result @ matrix
    return result


def to_dense(edge_index, weight, shape) -> np.ndarray:
    matrix = np.zeros(shape)
    np.add.at(matrix, tuple(edge_index.numpy()), weight.double().numpy())
    return matrix


def pyg_reference(data: HeteroData, hops) -> tuple[torch.Tensor, torch.Tensor]:
    # Duplicate edges go to PyG as one edge whose weight is the multiplicity: PyG multiplies
    # through torch's sparse-sparse matmul, which on MKL builds (seen on an Intel Xeon with
    # torch 2.13 / PyG 2.8.1) crashes or returns garbage entries for CSR inputs whose rows
    # repeat a column. The path counts of the multigraph and of this weighted graph are equal.
    data = data.clone()
    for hop in hops:
        store = data[hop]
        weight = store.edge_weight if "edge_weight" in store else \
            torch.ones(store.edge_index.size(1))
        store.edge_index, store.edge_weight = coalesce(store.edge_index, weight.float(),
                                                       reduce="sum")
    out = AddMetaPaths([hops], weighted=True)(data)
    store = out[hops[0][0], "metapath_0", hops[-1][2]]
    size = (data[hops[0][0]].num_nodes, data[hops[-1][2]].num_nodes)
    # AddMetaPaths may leave duplicate and unsorted entries; compare coalesced matrices
    matrix = torch.sparse_coo_tensor(store.edge_index, store.edge_weight, size).coalesce()
    return matrix.indices(), matrix.values()


# --------------------------------------------------------------------------- counts


def test_hand_computed_counts():
    # papers 0..3, authors 0..2: p0-{a0,a1}, p1-{a0}, p2-{a1,a2}, p3-{a2}
    pa = torch.tensor([[0, 0, 1, 2, 2, 3], [0, 1, 0, 1, 2, 2]])
    data = hetero_graph({("paper", "author"): pa}, {"paper": 4, "author": 3})
    edge_index, count = metapath_adjacency(data, PAP)
    expected = {(0, 0): 2, (0, 1): 1, (0, 2): 1, (1, 0): 1, (1, 1): 1, (2, 0): 1, (2, 2): 2,
                (2, 3): 1, (3, 2): 1, (3, 3): 1}
    assert edge_index.dtype == torch.long and count.dtype == torch.float32
    assert list(zip(*edge_index.tolist())) == sorted(expected)  # sorted by (start, end)
    assert count.tolist() == [expected[pair] for pair in sorted(expected)]
    # without self-loops: the diagonal goes
    edge_index, count = metapath_adjacency(data, PAP, self_loops=False)
    assert (edge_index[0] != edge_index[1]).all() and edge_index.size(1) == 6
    # the same path given as edge types (PyG's format) or (src, dst) pairs
    by_edge_types = metapath_adjacency(data, [("paper", "to", "author"),
                                              ("author", "to", "paper")])
    by_pairs = metapath_adjacency(data, [("paper", "author"), ("author", "paper")])
    assert torch.equal(by_edge_types[0], by_pairs[0])
    assert torch.equal(by_edge_types[1], metapath_adjacency(data, PAP)[1])


@pytest.mark.parametrize("duplicates", [False, True])
def test_matches_add_metapaths_on_random_graph(duplicates):
    data = random_graph(1, duplicates)
    weight = torch.randint(1, 4, (data["paper", "to", "venue"].edge_index.size(1),))
    data["paper", "to", "venue"].edge_weight = weight.float()
    metapaths = [PAP, PSP, ("paper", "author", "paper", "subject", "paper"),
                 ("paper", "venue", "paper"), ("author", "paper", "subject"),
                 ("author", "paper", "venue", "paper", "author")]
    for metapath in metapaths:
        hops = resolve_metapath(data, metapath)
        ours = metapath_adjacency(data, metapath, chunk_size=17)  # many row blocks
        reference = pyg_reference(data, hops)
        assert torch.equal(ours[0], reference[0]), metapath
        assert torch.equal(ours[1], reference[1]), metapath
        np.testing.assert_array_equal(
            to_dense(*ours, dense(data, hops).shape), dense(data, hops))


def test_chunking_does_not_change_the_result():
    data = random_graph(2)
    metapath = ("paper", "author", "paper", "subject", "paper")
    whole = metapath_adjacency(data, metapath, top_k=4, normalize="sym")
    for chunk_size in (1, 5, 100):
        part = metapath_adjacency(data, metapath, top_k=4, normalize="sym",
                                  chunk_size=chunk_size)
        assert torch.equal(whole[0], part[0]) and torch.equal(whole[1], part[1])


# --------------------------------------------------------------------------- real data


def acm_graph(root: str) -> HeteroData:
    folder = Path(root) / "hetero" / "ACM"
    if not (folder / "pa.txt").is_file():
        pytest.skip("ACM raw files not found")
    relations = {}
    for name, target in (("pa", "author"), ("ps", "subject")):
        raw = np.loadtxt(folder / f"{name}.txt", dtype=np.int64)
        relations["paper", target] = torch.from_numpy(raw.T.copy())
    data = hetero_graph(relations, {"paper": 4019, "author": 7167, "subject": 60})
    data.target_node_type = "paper"
    return data


@pytest.fixture(scope="module")
def acm(data_root):
    return acm_graph(data_root), Path(data_root) / "hetero" / "ACM"


def test_acm_counts_match_add_metapaths_and_shipped_patterns(acm):
    data, folder = acm
    for metapath, shipped in ((PAP, "pap.npz"), (PSP, "psp.npz")):
        edge_index, count = metapath_adjacency(data, metapath)
        reference = pyg_reference(data, resolve_metapath(data, metapath))
        assert torch.equal(edge_index, reference[0]) and torch.equal(count, reference[1])
        if not (folder / shipped).is_file():
            continue
        pattern = sp.load_npz(folder / shipped).tocsr()
        pattern.sort_indices()
        rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
        assert torch.equal(edge_index, torch.from_numpy(np.stack([rows, pattern.indices])))
    assert metapath_adjacency(data, PSP)[0].size(1) == 4338213


def test_acm_schema_and_contexts_match_heco_neighbour_lists(acm):
    data, folder = acm
    if not (folder / "nei_a.npy").is_file():
        pytest.skip("ACM nei_a.npy not found")
    nei_a = np.load(folder / "nei_a.npy", allow_pickle=True)  # HeCo: each paper's authors
    nei_s = np.load(folder / "nei_s.npy", allow_pickle=True)
    schema = network_schema(data)
    assert schema.target == "paper" and list(schema.neighbors) == ["author", "subject"]
    (context,) = metapath_context(data, PAP)  # MEOW's nei_a: the same authors
    for incidence in (schema.neighbors["author"], context.incidence):
        crow, col = incidence.crow_indices().numpy(), incidence.col_indices().numpy()
        assert all(set(col[crow[i]:crow[i + 1]]) == set(nei_a[i].tolist())
                   for i in range(4019))
    subject = schema.neighbors["subject"]
    assert torch.equal(subject.col_indices(), torch.from_numpy(nei_s[:, 0]))
    samples = schema.sample_neighbors({"author": 7, "subject": 1},
                                      torch.Generator().manual_seed(0))
    assert torch.equal(samples["subject"][:, 0], torch.from_numpy(nei_s[:, 0]))
    assert samples["author"].shape == (4019, 7) and (samples["author"] >= 0).all()


def test_acm_positives_reproduce_heco_up_to_ties(acm):
    data, folder = acm
    if not (folder / "pos.npz").is_file():
        pytest.skip("ACM pos.npz not found")
    shipped = sp.load_npz(folder / "pos.npz").tocsr()
    pairs = positive_pairs(data, [PAP, PSP], 5, binary=True, include_self=False)
    ours = sp.csr_matrix((np.ones(pairs.size(1)), tuple(pairs.numpy())), shape=shipped.shape)
    # HeCo's score: bool matrices, row-normalized, summed (float32 as in its pos.py)
    score = sum(sp.diags(1 / np.asarray(m.sum(1)).ravel()) @ m for m in (
        sp.load_npz(folder / "pap.npz").astype(np.float64),
        sp.load_npz(folder / "psp.npz").astype(np.float64))).tocsr().astype(np.float32)
    assert np.array_equal(np.diff(ours.indptr), np.diff(shipped.indptr))

    def sorted_scores(pattern):  # each row's chosen scores, sorted within the row
        pattern = pattern.tocoo()
        values = np.asarray(score[pattern.row, pattern.col]).ravel()
        return values[np.lexsort((values, pattern.row))]

    # the same scores in every row: the sets are equal up to how ties are broken
    np.testing.assert_array_equal(sorted_scores(ours), sorted_scores(shipped))
    # HeCo's script does not force the diagonal: 923 rows of its pos.npz lack it
    assert int((shipped.diagonal() == 0).sum()) == 923


# --------------------------------------------------------------------------- pathsim


def dense_top_k(matrix: np.ndarray, k: int, self_loops: bool = True) -> np.ndarray:
    diag = np.diag(matrix).copy()
    if not self_loops:
        matrix = matrix - np.diag(np.diag(matrix))
    out = np.zeros_like(matrix)
    for i in range(matrix.shape[0]):
        nonzero = np.flatnonzero(matrix[i])
        denominator = diag[i] + diag[nonzero]  # 0 on asymmetric paths: score 0
        score = np.divide(2 * matrix[i, nonzero], denominator,
                          out=np.zeros(nonzero.size), where=denominator > 0)
        score[nonzero == i] = np.inf  # the diagonal first
        chosen = nonzero[np.argsort(-score, kind="stable")[:k]]
        out[i, chosen] = matrix[i, chosen]
    return out


@pytest.mark.parametrize("self_loops", [True, False])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_pathsim_top_k_matches_dense(k, self_loops):
    data = random_graph(3)
    for metapath in (PAP, ("paper", "author", "paper", "venue", "paper")):
        full = dense(data, resolve_metapath(data, metapath))
        reference = dense_top_k(full, k, self_loops)
        edge_index, count = metapath_adjacency(data, metapath, top_k=k, self_loops=self_loops)
        np.testing.assert_array_equal(to_dense(edge_index, count, full.shape), reference)
        assert torch.bincount(edge_index[0], minlength=30).max() <= k
        if self_loops:  # the diagonal is always kept
            assert ((edge_index[0] == edge_index[1]).sum() == (np.diag(full) > 0).sum())
        # the functional form on a full count list agrees
        edge_index, count = metapath_adjacency(data, metapath, self_loops=self_loops)
        pruned = pathsim_top_k(edge_index, count, 30, k,
                               diagonal=torch.from_numpy(np.diag(full).copy()))
        np.testing.assert_array_equal(to_dense(*pruned, full.shape), reference)


def test_pathsim_handles_ties_and_short_rows():
    # a star: every paper shares author 0, so all PathSim scores of a row tie
    pa = torch.tensor([[0, 1, 2, 3, 4], [0, 0, 0, 0, 0]])
    data = hetero_graph({("paper", "author"): pa}, {"paper": 5, "author": 1})
    edge_index, _ = metapath_adjacency(data, PAP, top_k=2)
    assert edge_index.tolist() == [[0, 0, 1, 1, 2, 2, 3, 3, 4, 4],
                                   [0, 1, 0, 1, 0, 2, 0, 3, 0, 4]]  # self, then lowest id
    assert metapath_adjacency(data, PAP, top_k=10)[0].size(1) == 25


def test_top_k_selection_matches_a_full_sort():
    from graphcl.augment.metapath import _top_k_positions

    rng = np.random.default_rng(0)
    counts = rng.integers(0, 60, 300)
    counts[:3] = [0, 1, 500]
    indptr = np.concatenate([[0], np.cumsum(counts)])
    rows = np.repeat(np.arange(counts.size), counts)
    for dtype in (np.float64, np.float32):
        score = rng.integers(0, 6, indptr[-1]).astype(dtype) / 4  # many ties
        score[rng.random(score.size) < 0.05] = np.inf
        order = np.lexsort((-score, rows))  # by row, score descending, then position
        rank = np.arange(order.size) - indptr[rows[order]]
        for k in (1, 2, 7, 40):
            expected = np.sort(order[rank < k])
            for budget in (1 << 22, 64):
                kept = _top_k_positions(indptr, score, k, budget)
                np.testing.assert_array_equal(kept, expected)


def clique_graph(num_papers: int = 12, num_subjects: int = 2) -> HeteroData:
    """Papers with one subject each: P-S-P is a union of cliques, every PathSim score 1."""
    subject = torch.arange(num_papers) % num_subjects
    ps = torch.stack([torch.arange(num_papers), subject])
    return hetero_graph({("paper", "subject"): ps}, {"paper": num_papers,
                                                    "subject": num_subjects})


def test_numpy_ties_reproduce_the_official_argsort_selection():
    psp = ("paper", "subject", "paper")
    for data, k in [(clique_graph(), 4), (random_graph(5), 3)]:
        metapath = psp if "subject" in data.node_types else PAP
        full = dense(data, resolve_metapath(data, metapath))
        diag = np.diag(full)
        pathsim = np.zeros_like(full)
        nz = full > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            pathsim[nz] = (2 * full / (diag[:, None] + diag[None, :]))[nz]
        # MEOW's code_meow/module/preprocess.py pathsim(), on the dense matrix
        expected = np.zeros_like(full)
        for i in range(full.shape[0]):
            if nz[i].sum() <= k:
                expected[i] = full[i]
                continue
            kept = np.sort(np.argsort(pathsim[i])[::-1][:k])
            expected[i, kept] = full[i, kept]
        edge_index, count = metapath_adjacency(data, metapath, top_k=k, ties="numpy",
                                               chunk_size=7)
        np.testing.assert_array_equal(to_dense(edge_index, count, full.shape), expected)


def test_random_ties_are_seeded_unbiased_and_keep_the_diagonal():
    data = clique_graph(40, 2)  # two cliques of 20, all ties
    psp = ("paper", "subject", "paper")
    runs = {seed: metapath_adjacency(data, psp, top_k=5, ties="random", tie_seed=seed,
                                     chunk_size=c)[0]
            for seed, c in [(0, 1 << 20), (1, 1 << 20)]}
    again = metapath_adjacency(data, psp, top_k=5, ties="random", tie_seed=0, chunk_size=9)[0]
    assert torch.equal(runs[0], again)  # the seed fixes it, block splits do not matter
    assert not torch.equal(runs[0], runs[1])
    low = metapath_adjacency(data, psp, top_k=5)[0]
    for edge_index in (runs[0], runs[1], low):
        rows, cols = edge_index
        assert torch.bincount(rows, minlength=40).tolist() == [5] * 40
        assert ((rows == cols).sum() == 40)  # the diagonal first
        assert torch.equal(rows % 2, cols % 2)  # only same-subject neighbours
    # "low" joins everyone to the lowest ids; random spreads the choice over the clique
    def neighbours(edge_index):
        return torch.unique(edge_index[1][edge_index[0] != edge_index[1]]).numel()

    assert neighbours(low) == 10  # per clique its 4 lowest ids, and the 5th for those 4
    assert neighbours(runs[0]) > 20


def test_top_k_tie_key_matches_a_full_sort():
    from graphcl.augment.metapath import _top_k_positions

    rng = np.random.default_rng(1)
    counts = rng.integers(0, 40, 200)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    rows = np.repeat(np.arange(counts.size), counts)
    score = rng.integers(0, 4, indptr[-1]).astype(np.float64)
    key = rng.permutation(score.size)
    order = np.lexsort((key, -score, rows))
    rank = np.arange(order.size) - indptr[rows[order]]
    for k in (1, 3, 10):
        np.testing.assert_array_equal(_top_k_positions(indptr, score, k, tie_key=key),
                                      np.sort(order[rank < k]))


def test_numpy_ties_refuse_graphs_too_large_to_sort_densely(monkeypatch):
    from graphcl.augment import metapath

    monkeypatch.setattr(metapath, "NUMPY_TIES_MAX_WORK", 100)
    with pytest.raises(ValueError, match="ties='random'"):
        metapath_adjacency(clique_graph(40, 2), ("paper", "subject", "paper"), top_k=5,
                           ties="numpy")


def test_unknown_tie_rule_is_refused():
    with pytest.raises(ValueError, match="ties must be one of"):
        metapath_adjacency(random_graph(), PAP, top_k=2, ties="first")
    with pytest.raises(ValueError, match="ties must be one of"):
        MetaPathViews([PAP], ties="high")


# --------------------------------------------------------------------------- normalization


def test_normalization_matches_dense_and_plugs_into_csr_graph():
    data = random_graph(4)
    full = dense(data, resolve_metapath(data, PAP))
    pruned = dense_top_k(full, 4)
    degree = pruned.sum(1)
    inv_sqrt = np.where(degree > 0, degree, 1) ** -0.5 * (degree > 0)
    expected = {"sym": inv_sqrt[:, None] * pruned * inv_sqrt[None, :],
                "row": pruned / np.where(degree > 0, degree, 1)[:, None]}
    for mode, reference in expected.items():
        edge_index, weight = metapath_adjacency(data, PAP, top_k=4, normalize=mode,
                                                dtype=torch.float64)
        np.testing.assert_allclose(to_dense(edge_index, weight, full.shape), reference,
                                   rtol=1e-12, atol=0)
        edge_index, count = metapath_adjacency(data, PAP, top_k=4, dtype=torch.float64)
        np.testing.assert_allclose(normalize_adjacency(edge_index, count, 30, mode).numpy(),
                                   weight.numpy(), rtol=1e-12)
    # the pair plugs into CSRGraph: row i of the propagation matrix gathers the edges into i
    edge_index, weight = metapath_adjacency(data, PAP, top_k=4, normalize="sym",
                                            dtype=torch.float64)
    adjacency = CSRGraph(edge_index, 30, weight).adjacency(normalization="sum",
                                                           dtype=torch.float64)
    np.testing.assert_allclose(adjacency.to_dense().numpy(), expected["sym"].T, rtol=1e-12)
    x = torch.randn(30, 5, dtype=torch.float64)
    from graphcl.nn import propagate
    np.testing.assert_allclose(propagate(adjacency, x).numpy(), expected["sym"].T @ x.numpy(),
                               rtol=1e-10)


# --------------------------------------------------------------------------- contexts


def brute_force_contexts(data: HeteroData, hops) -> list[np.ndarray]:
    """Enumerate every path instance and count, per position, its intermediate nodes."""
    adjacency = []
    for hop in hops:
        neighbours = {}
        for s, t in data[hop].edge_index.t().tolist():
            neighbours.setdefault(s, []).append(t)
        adjacency.append(neighbours)
    num_start = data[hops[0][0]].num_nodes
    out = [np.zeros((num_start, data[hop[2]].num_nodes)) for hop in hops[:-1]]
    for start in range(num_start):
        paths = [[start]]
        for neighbours in adjacency:
            paths = [p + [n] for p in paths for n in neighbours.get(p[-1], [])]
        for path in paths:
            for position in range(1, len(hops)):
                out[position - 1][start, path[position]] += 1
    return out


def test_contexts_match_brute_force_enumeration():
    data = random_graph(5, duplicates=True)
    for metapath in (PAP, ("paper", "author", "paper", "subject", "paper"),
                     ("author", "paper", "venue", "paper", "author"),
                     ("paper", "author", "paper", "subject")):  # asymmetric
        hops = resolve_metapath(data, metapath)
        contexts = metapath_context(data, metapath)
        reference = brute_force_contexts(data, hops)
        assert [c.position for c in contexts] == list(range(1, len(hops)))
        assert [c.node_type for c in contexts] == [h[2] for h in hops[:-1]]
        for context, expected in zip(contexts, reference):
            assert context.incidence.layout == torch.sparse_csr
            np.testing.assert_array_equal(context.incidence.to_dense().numpy(), expected)
    # complete=False: MEOW's prefix reachability, counted by prefix instances
    for metapath in (("paper", "author", "paper", "subject"), ("author", "paper", "venue",
                                                               "paper", "author")):
        hops = resolve_metapath(data, metapath)
        for position, context in enumerate(metapath_context(data, metapath, complete=False),
                                           start=1):
            np.testing.assert_array_equal(context.incidence.to_dense().numpy(),
                                          dense(data, hops[:position]))
    # for PAP the context is the paper's own authors (MEOW's nei_a)
    (context,) = metapath_context(data, PAP)
    pattern = np.zeros((30, 20))
    pattern[tuple(data["paper", "to", "author"].edge_index.numpy())] = 1
    np.testing.assert_array_equal(context.incidence.to_dense().numpy() > 0, pattern > 0)


def test_aggregate_context_mean_and_sum():
    data = random_graph(6)
    context = metapath_context(data, ("paper", "author", "paper", "subject", "paper"))[2]
    assert context.node_type == "subject"
    x = torch.randn(data["subject"].num_nodes, 3, dtype=torch.float64, requires_grad=True)
    counts = context.incidence.to_dense().double()
    binary = (counts > 0).double()
    for weighted, matrix in ((False, binary), (True, counts)):
        total = matrix.sum(1, keepdim=True)
        mean = torch.where(total > 0, matrix / total.clamp(min=1e-300), torch.zeros(()))
        torch.testing.assert_close(aggregate_context(context, x, "mean", weighted), mean @ x)
        torch.testing.assert_close(aggregate_context(context, x, "sum", weighted), matrix @ x)
    aggregate_context(context, x).sum().backward()
    torch.testing.assert_close(x.grad, (binary / binary.sum(1, keepdim=True).clamp(min=1))
                               .sum(0)[:, None].expand(-1, 3))
    with pytest.raises(ValueError, match="N_int"):
        aggregate_context(context, torch.randn(7, 3))


def test_context_aggregation_reuses_its_matrices_and_matches_dense_gradients():
    data = random_graph(7)
    context = metapath_context(data, ("paper", "author", "paper", "subject", "paper"))[1]
    counts = context.incidence.to_dense().double()
    aggregate = ContextAggregation(context, "mean", weighted=True)
    reference = counts / counts.sum(1, keepdim=True).clamp(min=1e-300)
    for _ in range(2):  # the second call reuses the cached matrices
        x = torch.randn(counts.size(1), 4, dtype=torch.float64, requires_grad=True)
        upstream = torch.randn(counts.size(0), 4, dtype=torch.float64)
        out = aggregate(x)
        torch.testing.assert_close(out, reference @ x)
        (out * upstream).sum().backward()
        torch.testing.assert_close(x.grad, reference.t() @ upstream)
    matrix, transposed = aggregate.matrices(torch.float64)
    assert aggregate.matrices(torch.float64)[1] is transposed
    torch.testing.assert_close(transposed.to_dense(), matrix.to_dense().t())
    assert aggregate_context(aggregate, x).shape == (counts.size(0), 4)
    with pytest.raises(ValueError, match="reduce"):
        ContextAggregation(context, "max")
    with pytest.raises(ValueError, match="CSR"):
        ContextAggregation(counts)


def test_chained_context_aggregation_equals_the_full_incidence():
    gen = torch.Generator().manual_seed(3)
    authors = torch.unique(torch.stack([torch.randint(0, 25, (60,), generator=gen),
                                        torch.randint(0, 12, (60,), generator=gen)]), dim=1)
    venue = torch.randint(0, 4, (25,), generator=gen)
    venue[:4] = torch.arange(4)
    pv = torch.stack([torch.arange(25), venue])
    pv = torch.cat([pv, pv[:, :3]], dim=1)  # duplicate edges: still one venue per paper
    data = hetero_graph({("paper", "author"): authors, ("paper", "venue"): pv},
                        {"paper": 25, "author": 12, "venue": 4})
    apvpa = ("author", "paper", "venue", "paper", "author")
    contexts = metapath_context(data, apvpa, complete=False, dtype=torch.float64)
    aggregations = context_aggregations(data, apvpa, contexts)
    assert [type(a).__name__ for a in aggregations] == [
        "ContextAggregation", "ContextAggregation", "ChainedContextAggregation"]
    x = torch.randn(25, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(12, 3, dtype=torch.float64)
    (aggregations[2](x) * upstream).sum().backward()
    chained_grad = x.grad.clone()
    x.grad = None
    reference = ContextAggregation(contexts[2])(x)
    torch.testing.assert_close(aggregations[2](x), reference)
    (reference * upstream).sum().backward()
    torch.testing.assert_close(chained_grad, x.grad)
    # a hop with several predecessors (paper -> author) stays a full incidence
    apapa = ("author", "paper", "author", "paper", "author")
    contexts = metapath_context(data, apapa, complete=False)
    assert not any(isinstance(a, ChainedContextAggregation)
                   for a in context_aggregations(data, apapa, contexts))
    with pytest.raises(ValueError, match="several predecessors"):
        ChainedContextAggregation(contexts[1], contexts[0].incidence)


# --------------------------------------------------------------------------- positives


def dense_positives(matrices, k: int, include_self: bool) -> set:
    score = sum(m / np.where(m.sum(1, keepdims=True) > 0, m.sum(1, keepdims=True), 1)
                for m in matrices).astype(np.float32)
    pairs = set()
    for i in range(score.shape[0]):
        row = score[i].astype(np.float64)
        if include_self:
            row[i] = np.inf
        nonzero = np.flatnonzero(row)
        chosen = nonzero[np.argsort(-row[nonzero], kind="stable")[:k]]
        pairs |= {(i, int(j)) for j in chosen}
    return pairs


@pytest.mark.parametrize("binary,include_self", list(itertools.product([True, False], repeat=2)))
def test_positive_pairs_match_dense(binary, include_self):
    data = random_graph(7)
    metapaths = [PAP, PSP, ("paper", "venue", "paper")]
    matrices = [dense(data, resolve_metapath(data, m)) for m in metapaths]
    if binary:
        matrices = [(m > 0).astype(np.float64) for m in matrices]
    for k in (1, 3, 6):
        pairs = positive_pairs(data, metapaths, k, binary=binary, include_self=include_self,
                               chunk_size=7)
        assert pairs.shape[0] == 2 and pairs.dtype == torch.long
        ordered = list(zip(*pairs.tolist()))
        assert ordered == sorted(ordered)
        assert set(ordered) == dense_positives(matrices, k, include_self)


# --------------------------------------------------------------------------- errors


def test_missing_relation_lists_the_edge_types():
    data = random_graph(0)
    with pytest.raises(ValueError, match="no relation from 'author' to 'subject'") as error:
        metapath_adjacency(data, ("paper", "author", "subject"))
    for edge_type in data.edge_types:
        assert repr(edge_type) in str(error.value)
    data["paper", "cites", "author"].edge_index = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="several relations"):
        resolve_metapath(data, PAP)
    hops = resolve_metapath(data, ("paper", ("paper", "cites", "author"), "paper"))
    assert hops == [("paper", "cites", "author"), ("author", "to", "paper")]
    with pytest.raises(ValueError, match="is not in the graph"):
        resolve_metapath(data, ("paper", ("paper", "likes", "author")))
    with pytest.raises(ValueError, match="starts at"):
        resolve_metapath(data, [("paper", "to", "author"), ("paper", "to", "subject")])
    with pytest.raises(ValueError, match="no relation"):
        resolve_metapath(data, ("paper",))
    with pytest.raises(TypeError, match="HeteroData"):
        metapath_adjacency(data["paper"], PAP)
    with pytest.raises(ValueError, match="top_k"):
        metapath_adjacency(data, ("paper", "venue"), top_k=2)
    with pytest.raises(ValueError, match="normalize"):
        metapath_adjacency(data, PAP, normalize="gcn")


# --------------------------------------------------------------------------- schema


def test_network_schema_sampling():
    data = random_graph(8)
    data["venue"].num_nodes = 3
    schema = network_schema(data, "paper")
    assert list(schema.neighbors) == ["author", "subject", "venue"]
    degree = schema.degree("author")
    neighbours = [set(data["paper", "to", "author"].edge_index[1][
        data["paper", "to", "author"].edge_index[0] == i].tolist()) for i in range(30)]
    assert degree.tolist() == [len(n) for n in neighbours]
    k = 3
    samples = schema.sample_neighbors({"author": k, "subject": 1},
                                      torch.Generator().manual_seed(0))
    assert set(samples) == {"author", "subject"}
    author = samples["author"]
    assert author.shape == (30, k) and author.dtype == torch.long
    for i in range(30):
        row = author[i].tolist()
        if not neighbours[i]:
            assert row == [-1] * k
        else:
            assert set(row) <= neighbours[i]
            if len(neighbours[i]) >= k:
                assert len(set(row)) == k  # without replacement
    again = schema.sample_neighbors({"author": k, "subject": 1},
                                    torch.Generator().manual_seed(0))
    assert all(torch.equal(samples[t], again[t]) for t in samples)
    other = schema.sample_neighbors({"author": k, "subject": 1},
                                    torch.Generator().manual_seed(1))
    assert not torch.equal(other["author"], author)
    # every neighbour is eventually drawn: rows are uniform over the neighbour set
    many = schema.sample_neighbors(2, torch.Generator().manual_seed(2))["author"]
    drawn = [set() for _ in range(30)]
    for seed in range(40):
        draw = schema.sample_neighbors(2, torch.Generator().manual_seed(seed))["author"]
        for i in range(30):
            drawn[i] |= set(draw[i].tolist()) - {-1}
    assert drawn == neighbours and many.shape == (30, 2)
    with pytest.raises(ValueError, match="no neighbours of types"):
        schema.sample_neighbors({"term": 2})
    with pytest.raises(ValueError, match="k must be"):
        schema.sample_neighbors(0)


# --------------------------------------------------------------------------- views


def test_metapath_views_build_once_and_match_the_functions():
    data = random_graph(9)
    data.target_node_type = "paper"
    views = MetaPathViews([PAP, PSP], top_k=[4, 6], num_positives=3)
    built = views(data)
    assert built.target == "paper" and built.num_nodes == 30
    assert views(data) is built  # cached
    for (edge_index, weight), metapath, k in zip(built.views, [PAP, PSP], [4, 6]):
        reference = metapath_adjacency(data, metapath, top_k=k, normalize="sym")
        assert torch.equal(edge_index, reference[0]) and torch.equal(weight, reference[1])
    assert [c.node_type for c in built.contexts[0]] == ["author"]
    assert torch.equal(built.positives, positive_pairs(data, [PAP, PSP], 3))
    assert list(built.schema.neighbors) == ["author", "subject", "venue"]
    edited = data.clone()
    edited["paper", "to", "author"].edge_index = edited["paper", "to", "author"].edge_index[:, 1:]
    assert views(edited) is not built
    with pytest.raises(ValueError, match="must start and end at the target"):
        MetaPathViews([("author", "paper", "author")], target="paper")(data)
    with pytest.raises(ValueError, match="top_k has 1 entries"):
        MetaPathViews([PAP, PSP], top_k=[3])
