//! `IndexSink`: the end of the dataflow. Hands each completed version's data, in version
//! order, to a writer (the materialized indexes), and yields an empty stream whose
//! frontier says which versions every sink has applied: the visible version.

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::Stream;

use crate::commands::Version;
use crate::operators::batching::by_time;

/// Apply data to an external store.
pub trait IndexSink<'s, D> {
    /// Call `apply(version, data)` once per completed version, in order.
    fn index_sink(self, name: &str, apply: impl FnMut(Version, Vec<D>) + 'static) -> Stream<'s, Version, Vec<()>>;
}

impl<'s, D: Clone + 'static> IndexSink<'s, D> for Stream<'s, Version, Vec<D>> {
    fn index_sink(self, name: &str, mut apply: impl FnMut(Version, Vec<D>) + 'static) -> Stream<'s, Version, Vec<()>> {
        by_time(self, Pipeline, name, move |t, data, _out: &mut Vec<()>| apply(t, data))
    }
}
