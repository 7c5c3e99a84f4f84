"""What the stateful mode inferred from a spec, in words: `sandlot mock --stateful --explain`.

Called by the command line (cli/mock.py) with the model `infer_model` returned. Pure: a model
in, lines out, so a person sees what each operation will do before running anything, and which
`x-sandlot-*` override to write where the inference is wrong (docs/stateful.md).
"""

from __future__ import annotations

from sandlot.state.inference import HIDDEN_PARENT, Binding, Collection, StateModel


def _collection_line(collection: Collection, model: StateModel) -> str:
    parts = []
    if collection.natural:
        how = (f" (made from {collection.slug_source})" if collection.slug_source
               else " (numbered per parent)" if (collection.properties.get(collection.id_field) or {}).get("type")
               == "integer" else " (as sent)")
        parts.append(f"key {collection.id_field}{how}")
    else:
        parts.append(f"id {collection.id_field} ({collection.id_format.kind}"
                     f"{' ' + collection.id_format.prefix if collection.id_format.prefix else ''})")
    if collection.jsonapi is not None:
        parts.append(f"JSON:API {collection.jsonapi.type}")
    elif collection.hal is not None:
        parts.append(f"HAL (links {', '.join(collection.hal.links)})")
    elif collection.wrapper:
        parts.append(f"envelope {collection.wrapper}")
    if collection.owner_field:
        parts.append(f"owner {collection.owner_field}")
    parents = sorted({b.parent_collection for b in model.bindings.values()
                      if b.collection == collection.name and b.parent_collection})
    if parents:
        parts.append("in " + ", ".join(p for p in parents if p))
    for prop, child, _ in collection.child_counters:
        parts.append(f"counts {child} in {prop}")
    stamps = ", ".join(t.name for t in collection.timestamps)
    if stamps:
        parts.append(f"timestamps {stamps}")
    server = collection.server
    fills = [f"{name} (the caller's account)" for name in server.accounts]
    if server.sequence:
        fills.append(f"{server.sequence[0]} (numbered from {server.sequence[1]})")
    if server.self_link and server.item_paths:
        fills.append(f"{server.self_link[0]} (its own {'URL' if server.self_link[1] else 'URI'})")
    fills += [f"{m.name} ({', '.join(k for k, _ in m.children) or 'none'})" for m in server.link_maps
              if server.item_paths]
    if fills:
        parts.append("fills " + ", ".join(fills))
    return f"  {collection.name}: " + ", ".join(parts)


def _binding_text(binding: Binding, model: StateModel) -> str:
    collection = model.collections[binding.collection]
    view = binding.action.startswith("view_")
    if binding.action in ("toggle_on", "toggle_off", "view_toggle_on", "view_toggle_off"):
        toggle = next(t for t in collection.toggles if t.action == binding.toggle)
        extras = [f"flag {toggle.flag}" if toggle.flag else "", f"counter {toggle.counter}" if toggle.counter else "",
                  f"the user named by {binding.id_param}" if view else ""]
        shown = ", ".join(e for e in extras if e)
        return (f"toggle {'on' if binding.action.endswith('_on') else 'off'} {collection.name}.{toggle.action}"
                + (f" ({shown})" if shown else ""))
    if binding.action == "values":
        where = f" in {binding.values_in}" if binding.values_in else ""
        return f"the distinct values of {collection.name}.{binding.values_of}{where}"
    if binding.action == "view_read":
        return f"read a view of {collection.name} (the user named by {binding.id_param})"
    if binding.action == "transition" and binding.transition:
        return f"transition {collection.name}: set {binding.transition[0]} to {binding.transition[1]!r}"
    if binding.action == "list":
        text = f"list {collection.name}"
        if binding.feed:
            users = model.identity.users if model.identity else "users"
            text += f" by the {collection.owner_field}s the caller toggled {users}.{binding.feed} on (a feed)"
        if binding.newest_first:
            text += ", newest first"
        if binding.filters:
            text += ", filters " + ", ".join(p if p == prop else f"{p}->{prop}" for p, prop in binding.filters.items())
        pagination = binding.pagination
        if pagination is not None and pagination.items_field:
            text += f", items in {pagination.items_in + '.' if pagination.items_in else ''}{pagination.items_field}"
            if pagination.total_field:
                text += f", total in {pagination.total_field}"
        return text
    names = {"signup": "sign up a user of", "login": "log in a user of", "logout": "log out a user of",
             "me_read": "read the current user of", "me_update": "update the current user of"}
    if binding.action in names:
        return f"{names[binding.action]} {collection.name}"
    text = f"{binding.action} {collection.name}"
    if binding.parent_collection:
        field = "a hidden link" if binding.parent_field == HIDDEN_PARENT else binding.parent_field
        text += f" under {binding.parent_collection} ({field})"
    return text


def explain(model: StateModel) -> list[str]:
    """Return the lines `--explain` prints: collections, identity, then every operation."""
    lines = ["Collections:"]
    lines += [_collection_line(c, model) for c in model.collections.values()] or ["  none"]
    identity = model.identity
    if identity is not None:
        where = (f"token in the user object's `{identity.token_field}`" if identity.token_in_user
                 else f"token in `{identity.token_field}`" if identity.token_field
                 else f"token in the cookie `{identity.cookie}`")
        lines += ["", f"identity: {identity.users} (log in with {', '.join(identity.identifiers)}; {where})"]
    if model.accounts:
        lines += ["", f"accounts: {model.accounts} (the caller's own account, named by the credential, always exists)"]
    lines += ["", "Operations:"]
    width = max((len(m) + len(t) + 1 for m, t in model.bindings), default=0)
    for (method, template), binding in sorted(model.bindings.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"  {f'{method} {template}':<{width}}  {_binding_text(binding, model)}")
    return lines
