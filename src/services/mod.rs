//! Application services: each staff or operator command as one function that loads the
//! aggregates it needs, lets the domain decide, and commits the result. No HTTP here.

pub mod client_items;
pub mod clients;
pub mod contracts;
pub mod erasure;
pub mod items;
pub mod notifications;
pub mod portal_users;
pub mod rows;
pub mod staff;
pub mod tenants;
pub mod webhook_deliveries;
pub mod webhooks;

use aggregates::DomainError;
use cqrs_es::Aggregate;
use futures::future::BoxFuture;
use uuid::Uuid;

use crate::app::App;
use crate::errors::service::ServiceResult;
use crate::store::UnitOfWork;
use crate::store::{CommandMeta, Committed, Keepable, Loaded};

/// An aggregate a service runs one command on at a time: kept in the store, needing no
/// services, refusing with the domain's errors.
pub(crate) trait SimpleAggregate:
    Keepable + Aggregate<Services = (), Error = DomainError, Command = Self::Cmd>
{
    type Cmd: Clone + Send + Sync + 'static;
}

impl<A> SimpleAggregate for A
where
    A: Keepable + Aggregate<Services = (), Error = DomainError>,
    A::Command: Clone + Send + Sync + 'static,
{
    type Cmd = A::Command;
}

/// One command on one existing stream.
pub(crate) async fn run_on<A: SimpleAggregate>(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    command: A::Command,
) -> ServiceResult<Committed<()>> {
    one_command::<A>(app, meta, id, command, Stream::Existing).await
}

/// The first command of a new stream under a fresh id; the id is what it answers.
pub(crate) async fn start<A: SimpleAggregate>(
    app: &App,
    meta: &CommandMeta,
    command: A::Command,
) -> ServiceResult<Committed<Uuid>> {
    let id = Uuid::now_v7();
    let done = one_command::<A>(app, meta, id, command, Stream::New).await?;
    Ok(Committed {
        value: id,
        position: done.position,
    })
}

/// Gives a closure the signature the store's `transact` wants (inference alone does not
/// make it general over the unit of work's lifetime when it is bound to a variable).
fn unit_of_work_fn<T, F>(work: F) -> F
where
    F: for<'u> Fn(&'u mut UnitOfWork) -> BoxFuture<'u, ServiceResult<T>>,
{
    work
}

#[derive(Clone, Copy)]
enum Stream {
    /// Load it (it may not exist; the domain decides what that means).
    Existing,
    /// Its id was just generated: nothing to read.
    New,
}

async fn one_command<A: SimpleAggregate>(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    command: A::Command,
    stream: Stream,
) -> ServiceResult<Committed<()>> {
    let work = unit_of_work_fn(|uow| {
        let command = command.clone();
        Box::pin(async move {
            let mut target: Loaded<A> = match stream {
                Stream::Existing => uow.load::<A>(id).await?,
                Stream::New => uow.new_stream(id),
            };
            uow.execute(&mut target, command).await
        })
    });
    match stream {
        Stream::Existing => app.store.transact(meta, id, work).await,
        Stream::New => app.store.transact_new_streams(meta, work).await,
    }
}
