"""Decodes a trace with Perfetto's own schema (perfetto_trace_pb2, from the
`perfetto` package) and prints what tests/perfetto.rs checks, as JSON:
fields the schema does not know, tracks, slices per track (and whether
their begins and ends balance), flows and instant events, names resolved
through the sequence's interned data."""

import json
import sys

from google.protobuf import unknown_fields
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb


def unknown(msg, path):
    found = [path] if len(unknown_fields.UnknownFieldSet(msg)) else []
    for fd, value in msg.ListFields():
        if fd.type == fd.TYPE_MESSAGE:
            for m in value if fd.is_repeated else [value]:
                found += unknown(m, f"{path}.{fd.name}")
    return found


def main(path):
    trace = pb.Trace()
    trace.ParseFromString(open(path, "rb").read())
    names, args = {}, {}
    threads, processes = {}, {}
    open_slices = {}  # track -> stack of slice records
    slices, instants, unbalanced = [], [], []
    flow_out, flow_in = {}, {}
    for p in trace.packet:
        if p.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
            names, args = {}, {}
        for n in p.interned_data.event_names:
            names[n.iid] = n.name
        for n in p.interned_data.debug_annotation_names:
            args[n.iid] = n.name
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if d.HasField("thread"):
                threads[d.uuid] = {"pid": d.thread.pid, "tid": d.thread.tid,
                                   "name": d.thread.thread_name, "parent": d.parent_uuid}
            if d.HasField("process"):
                processes[d.uuid] = {"pid": d.process.pid, "name": d.process.process_name}
        if not p.HasField("track_event"):
            continue
        e = p.track_event
        name = e.name if e.HasField("name") else names.get(e.name_iid)
        annotations = {}
        for a in e.debug_annotations:
            key = args.get(a.name_iid, a.name)
            which = a.WhichOneof("value")
            annotations.setdefault(key, getattr(a, which) if which else None)
        stack = open_slices.setdefault(e.track_uuid, [])
        if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
            s = {"name": name, "depth": len(stack), "args": annotations, "ts": p.timestamp,
                 "clock": p.timestamp_clock_id, "track": e.track_uuid}
            stack.append(s)
            slices.append(s)
            for f in e.flow_ids:
                flow_out.setdefault(f, []).append(s)
            for f in e.terminating_flow_ids:
                flow_in.setdefault(f, []).append(s)
        elif e.type == pb.TrackEvent.TYPE_SLICE_END:
            if not stack:
                unbalanced.append(e.track_uuid)
            else:
                s = stack.pop()
                if p.timestamp < s["ts"]:
                    unbalanced.append(e.track_uuid)
        elif e.type == pb.TrackEvent.TYPE_INSTANT:
            instants.append({"name": name, "args": annotations, "track": e.track_uuid})
    unbalanced += [t for t, st in open_slices.items() if st]
    flows = []
    for f in sorted(set(flow_out) | set(flow_in)):
        out, into = flow_out.get(f, []), flow_in.get(f, [])
        flows.append({"from": [s["name"] for s in out], "from_args": [s["args"] for s in out],
                      "to": [s["name"] for s in into], "to_args": [s["args"] for s in into],
                      "from_track": [s["track"] for s in out], "to_track": [s["track"] for s in into]})
    print(json.dumps({
        "packets": len(trace.packet),
        "unknown_fields": sorted(set(unknown(trace, "Trace"))),
        "threads": list(threads.values()),
        "processes": list(processes.values()),
        "thread_parents_known": all(t["parent"] in processes for t in threads.values()),
        "slices": [{k: s[k] for k in ("name", "depth", "args", "clock")} for s in slices],
        "unbalanced_tracks": unbalanced,
        "flows": flows,
        "instants": instants,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
