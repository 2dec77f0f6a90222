"""A file the window hands to a child process is one import, named by the window's service:
it is running there until the child is done, so an undo of it is refused meanwhile."""
from faultsim_desktop.core.child import ChildIngest


def test_a_child_ingest_is_one_import_running_in_the_parent_until_done(db_path, open_service,
                                                                      tmp_path):
    path = tmp_path / "orders.ndjson"
    path.write_text("".join(f'{{"client": "c{i % 7}", "amount": "{i}.25"}}\n'
                            for i in range(500)) + '{"client": "c1", "amount": "0.25"}\n')
    svc = open_service(db_path)
    child = ChildIngest(svc, str(path))
    assert svc.import_running(child.tag.uid)
    summary = child.run(svc, lambda records: None, None, None)
    assert not svc.import_running(child.tag.uid)
    assert (summary.accepted, summary.duplicates) == (501, 0)
    [row] = svc.imports()
    assert (row.uid, row.kind, row.source) == (child.tag.uid, "file", str(path))
    assert (row.received, row.accepted) == (501, 501)
    assert svc.undo_import(row.id).removed == 501
    assert svc.stats() == []
