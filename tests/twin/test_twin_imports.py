"""The twin's modules import each other one way only: no import cycle inside `kubeheal.twin`.

Imports inside functions count (grimp reads every import statement), so a cycle cannot hide
behind a late import, as the kubelet and the node controller once did.
"""

from __future__ import annotations

import grimp


def _twin_cycles(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    twin = sorted(m for m in graph.modules if m.startswith("kubeheal.twin."))
    return {
        (importer, imported)
        for importer in twin
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.startswith("kubeheal.twin.")
        and graph.chain_exists(importer=imported, imported=importer)
    }


def test_no_import_cycle_inside_the_twin() -> None:
    graph = grimp.build_graph("kubeheal", cache_dir=None)
    assert _twin_cycles(graph) == set()


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = grimp.build_graph("kubeheal", cache_dir=None)
    graph.add_import(importer="kubeheal.twin.sim.nodes", imported="kubeheal.twin.sim.kubelet")
    assert ("kubeheal.twin.sim.nodes", "kubeheal.twin.sim.kubelet") in _twin_cycles(graph)
