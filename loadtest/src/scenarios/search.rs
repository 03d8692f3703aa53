//! Search-only scenarios: cold_search_email, sms_validate, profile_swap, repeat_cache.

use crate::failure::FailureReason;
use crate::scenarios::messages::{draft_email, draft_sms};
use crate::scenarios::steps::{self, prefer_base, Ctx};
use crate::scenarios::Counters;
use crate::wire::SearchRequest;

/// How many times repeat_cache issues the same query.
pub const REPEATS: usize = 5;

/// search → GET the top worker → returns it (shared head of the outreach scenarios).
async fn top_worker(ctx: &mut Ctx<'_>) -> Result<crate::queries::WorkerDoc, FailureReason> {
    let q = ctx.env.mix.draw(&mut ctx.rng);
    let found = steps::search(ctx, &SearchRequest::plain(q.text, ctx.env.k)).await?;
    let Some(top) = prefer_base(&found.results).first().map(|h| h.id.to_string()) else {
        return Err(ctx.fail(FailureReason::NoResults));
    };
    steps::get_worker(ctx, &top).await
}

/// search → GET top worker → email draft → validate (must be ok).
pub async fn cold_search_email(ctx: &mut Ctx<'_>) -> Result<(), FailureReason> {
    let worker = top_worker(ctx).await?;
    steps::validate_message(ctx, &draft_email(&worker)).await
}

/// search → GET top worker → SMS draft with the call-back number → validate as SMS.
pub async fn sms_validate(ctx: &mut Ctx<'_>) -> Result<(), FailureReason> {
    let worker = top_worker(ctx).await?;
    steps::validate_message(ctx, &draft_sms(&worker)).await
}

/// search → search excluding the first ids → non-empty and disjoint.
pub async fn profile_swap(ctx: &mut Ctx<'_>) -> Result<(), FailureReason> {
    let q = ctx.env.mix.draw(&mut ctx.rng);
    let mut req = SearchRequest::plain(q.text, ctx.env.k);
    let first = steps::search(ctx, &req).await?;
    if first.results.is_empty() {
        return Err(ctx.fail(FailureReason::NoResults));
    }
    req.exclude_ids = first.ids();
    let swap = steps::search(ctx, &req).await?;
    if swap.results.is_empty() {
        return Err(ctx.fail(FailureReason::NoResults));
    }
    if swap.results.iter().any(|h| req.exclude_ids.iter().any(|e| e.as_str() == h.id.as_str())) {
        return Err(ctx.fail(FailureReason::OverlapInSwap));
    }
    Ok(())
}

/// The same query [`REPEATS`] times: identical top-k at an unchanged version.
///
/// A different top-k after the version moved is ingest at work, counted in
/// `changed_by_ingest`, not a failure; the comparison then continues from the new list.
pub async fn repeat_cache(ctx: &mut Ctx<'_>) -> Result<(), FailureReason> {
    let q = ctx.env.mix.draw(&mut ctx.rng);
    let req = SearchRequest::plain(q.text, ctx.env.k);
    let mut prev = steps::search(ctx, &req).await?;
    if prev.results.is_empty() {
        return Err(ctx.fail(FailureReason::NoResults));
    }
    for _ in 1..REPEATS {
        let next = steps::search(ctx, &req).await?;
        if next.ids() != prev.ids() {
            if next.version == prev.version {
                return Err(ctx.fail(FailureReason::TopkChanged));
            }
            Counters::bump(&ctx.env.counters.changed_by_ingest);
        }
        prev = next;
    }
    Ok(())
}
