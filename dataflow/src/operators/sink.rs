//! `IndexSink`: the end of the dataflow. Hands each completed version's data, in version
//! order, to a writer (the materialized indexes), and yields an empty stream whose
//! frontier says which versions every sink has applied: the visible version.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use crate::commands::Version;
use crate::operators::batching::{by_time, stash_message, Stash};

/// Apply data to an external store.
pub trait IndexSink<'s, D> {
    /// Call `apply(version, data)` once per completed version, in order.
    fn index_sink(self, name: &str, apply: impl FnMut(Version, Vec<D>) + 'static) -> Stream<'s, Version, Vec<()>>;

    /// Call `apply(versions)` with every version completed since the last call, in order,
    /// each with its data: a writer that must exclude readers while it applies (the worker
    /// index) then excludes them once for all the versions that queued up meanwhile.
    fn index_sink_batched(
        self,
        name: &str,
        apply: impl FnMut(Vec<(Version, Vec<D>)>) + 'static,
    ) -> Stream<'s, Version, Vec<()>>;
}

impl<'s, D: Clone + 'static> IndexSink<'s, D> for Stream<'s, Version, Vec<D>> {
    fn index_sink(self, name: &str, mut apply: impl FnMut(Version, Vec<D>) + 'static) -> Stream<'s, Version, Vec<()>> {
        by_time(self, Pipeline, name, move |t, data, _out: &mut Vec<()>| apply(t, data))
    }

    fn index_sink_batched(
        self,
        name: &str,
        mut apply: impl FnMut(Vec<(Version, Vec<D>)>) + 'static,
    ) -> Stream<'s, Version, Vec<()>> {
        self.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, name, move |_cap, _info| {
            let mut stash: Stash<D> = BTreeMap::new();
            move |(input, frontier), _output| {
                input.for_each(|cap, data| stash_message(&mut stash, &cap, data));
                let mut ready = Vec::new();
                let mut caps = Vec::new();
                while let Some((&t, _)) = stash.first_key_value() {
                    if frontier.less_equal(&t) {
                        break;
                    }
                    if let Some((cap, data)) = stash.remove(&t) {
                        ready.push((t, data));
                        caps.push(cap);
                    }
                }
                if !ready.is_empty() {
                    apply(ready);
                }
                // Held until the versions are applied: the visible frontier passes them only then.
                drop(caps);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use timely::dataflow::operators::probe::Handle as ProbeHandle;
    use timely::dataflow::operators::{Input, Probe};

    /// Every call of the sink's `apply`: the versions it got, with their data.
    type Calls = Rc<RefCell<Vec<Vec<(Version, Vec<u32>)>>>>;

    #[test]
    fn batched_sink_applies_every_queued_version_in_one_call_in_order() {
        timely::execute_directly(|worker| {
            let calls: Calls = Rc::default();
            let probe = ProbeHandle::new();
            let seen = Rc::clone(&calls);
            let mut input = worker.dataflow::<Version, _, _>(|scope| {
                let (input, stream) = scope.new_input::<Vec<u32>>();
                stream.index_sink_batched("Test", move |versions| seen.borrow_mut().push(versions)).probe_with(&probe);
                input
            });
            // Five versions queue up before the dataflow runs (as while an apply waits).
            for v in 1..=5u64 {
                input.advance_to(v);
                input.send(v as u32 * 10);
                input.send(v as u32 * 10 + 1);
            }
            input.advance_to(6);
            while probe.less_than(&6) {
                worker.step();
            }
            {
                let calls = calls.borrow();
                assert_eq!(calls.len(), 1, "one apply for the queued versions: {calls:?}");
                let versions: Vec<Version> = calls[0].iter().map(|(v, _)| *v).collect();
                assert_eq!(versions, vec![1, 2, 3, 4, 5]);
                assert!(calls[0].iter().all(|(v, d)| *d == vec![*v as u32 * 10, *v as u32 * 10 + 1]));
            }

            // A version arriving alone is applied alone, once the input passes it.
            input.advance_to(7);
            input.send(70);
            input.advance_to(8);
            while probe.less_than(&8) {
                worker.step();
            }
            let calls = calls.borrow();
            assert_eq!(calls.len(), 2);
            assert_eq!(calls[1], vec![(7, vec![70])]);
        });
    }
}
