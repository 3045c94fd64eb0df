import corpus
from corpus import Document, Source, Split


def test_split_of_is_stable_and_near_two_percent():
    paths = [f"pkg/module_{index}.py" for index in range(5000)]
    splits = [corpus.split_of(Source.STDLIB, path) for path in paths]
    assert splits == [corpus.split_of(Source.STDLIB, path) for path in paths]
    validation_share = splits.count(Split.VALIDATION) / len(splits)
    assert 0.015 < validation_share < 0.025


def test_deduplicate_keeps_first_copy():
    documents = [Document(Source.STDLIB, "a.py", "x = 1\n"), Document(Source.STDLIB, "b.py", "y = 2\n"),
                 Document(Source.NODEJS_DOCS, "c.md", "x = 1\n")]
    assert [d.path for d in corpus.deduplicate(documents)] == ["a.py", "b.py"]


def test_stdlib_train_split_is_disjoint_from_validation():
    train = corpus.load_corpus([Source.STDLIB], Split.TRAIN)
    validation = corpus.load_corpus([Source.STDLIB], Split.VALIDATION)
    assert len(train) > 300
    assert len(validation) > 0
    assert {d.path for d in train}.isdisjoint({d.path for d in validation})
    assert [d.path for d in train] == sorted(d.path for d in train)
    assert all(d.split is Split.TRAIN for d in train)


def test_stdlib_excludes_tests_and_site_packages():
    paths = [d.path for d in corpus.load_corpus([Source.STDLIB], Split.ALL)]
    assert "os.py" in paths
    assert not any(path.startswith(("test/", "site-packages/", "idlelib/")) for path in paths)


def test_text_output_is_deterministic(tmp_path):
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    for out in (first, second):
        assert corpus.main(["--sources", "stdlib", "--split", "train", "--format", "text", "--out", str(out)]) == 0
    assert first.read_bytes() == second.read_bytes()
    expected = corpus.TEXT_DOCUMENT_SEPARATOR.join(d.text for d in corpus.load_corpus([Source.STDLIB], Split.TRAIN))
    assert first.read_text(encoding="utf-8") == expected
