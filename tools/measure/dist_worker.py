"""The set-up every gloo worker of the allocator-measured multi-process runs shares (alloc_measure.py's FSDP2 and FSDP1
workers, lightning_measure.py's FSDPStrategy worker): joining the process group with settled collectives, the rank's
inputs, the live state after the steps, the rank's result file, and the spawn-and-retry loop around the workers."""
import json
import os
import tempfile
import time


class _DoneWork:
    """What an async collective returns once _settled_collectives has finished it."""

    def wait(self, *a, **k):
        return True

    def is_completed(self):
        return True


def _settled_collectives(torch, dist):
    """Runs FSDP2's collectives to completion and waits until gloo's worker thread has dropped its references to their
    tensors, so that every free happens on the main thread, where the profiler records it (see LEAK_TRIES). This
    changes no allocation on the main thread: FSDP2 allocates the buffers before it calls the collective."""
    def settle(orig):
        def run(*args, async_op=False, **kw):
            tensors = [a for a in list(args) + list(kw.values()) if isinstance(a, torch.Tensor)]
            base = [t._use_count() for t in tensors]
            work = orig(*args, async_op=True, **kw)
            if work is not None:
                work.wait()
                del work
            deadline = time.time() + 5.0
            while any(t._use_count() > b for t, b in zip(tensors, base)) and time.time() < deadline:
                time.sleep(0.0002)
            return _DoneWork() if async_op else None
        return run
    for name in ("all_gather_single", "reduce_scatter_single", "all_reduce", "all_gather_into_tensor",
                 "reduce_scatter_tensor"):
        if hasattr(dist, name):
            setattr(dist, name, settle(getattr(dist, name)))


def join_group(rank, world, port):
    """One CPU thread, the gloo process group on 127.0.0.1:port with settled collectives, seed 0. Returns (torch, dist)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    _settled_collectives(torch, dist)
    torch.manual_seed(0)
    return torch, dist


def rank_ids(torch, sp, rank):
    """The rank's own token ids (seed 1 + rank), batch × seq."""
    g = torch.Generator().manual_seed(1 + rank)
    return torch.randint(0, sp["vocab"], (sp["batch"], sp["seq"]), generator=g)


def storage_bytes(tensors):
    """Bytes of the distinct storages behind `tensors`, each data pointer once (empty storages add nothing)."""
    seen, total = set(), 0
    for t in tensors:
        s = t.untyped_storage()
        if s.data_ptr() not in seen and s.nbytes() > 0:
            seen.add(s.data_ptr())
            total += s.nbytes()
    return total


def state_of(model, opt):
    """What is alive between steps of a FullyShardedDataParallel model: its parameters (FlatParameter shards), buffers
    and the optimizer's state tensors."""
    import torch
    tensors = list(model.parameters()) + list(model.buffers())
    tensors += [t for st in opt.state.values() for t in st.values() if isinstance(t, torch.Tensor)]
    return storage_bytes(tensors)


def finish(dist, res, outdir, rank):
    """Writes the rank's result to outdir/rank{rank}.json and leaves the process group."""
    with open(os.path.join(outdir, f"rank{rank}.json"), "w") as f:
        json.dump(res, f)
    dist.destroy_process_group()


def spawn_ranks(worker, sp, world, port, tries_max, slack, lost_of):
    """Spawns `world` processes of worker(rank, world, sp, port + try, outdir) and reads their results, again (at most
    tries_max times) while some rank's lost_of(rank result) is above slack. Returns (ranks, lost, tries)."""
    import torch.multiprocessing as mp
    for tries in range(1, tries_max + 1):
        with tempfile.TemporaryDirectory() as d:
            mp.spawn(worker, args=(world, sp, port + tries, d), nprocs=world, join=True)
            ranks = [json.load(open(os.path.join(d, f"rank{r}.json"))) for r in range(world)]
        lost = [lost_of(rk) for rk in ranks]
        if max(lost) <= slack:
            break
    return ranks, lost, tries
