//! Given/when/then in one line: the checks every aggregate's tests make, on cqrs-es's
//! `TestFramework`.

use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;

use crate::DomainError;

/// `Given::writes(given, command, expected)`: after the events `given`, `command` writes
/// exactly `expected`; `Given::refuses(given, command, error)`: it is refused with `error`
/// and writes nothing; `Given::creates_once(create, created, what)`: on a new stream
/// `create` writes `created`, and after it the same command is refused as already there.
pub(crate) trait Check<A: Aggregate> {
    async fn writes(given: Vec<A::Event>, command: A::Command, expected: Vec<A::Event>);
    async fn refuses(given: Vec<A::Event>, command: A::Command, error: DomainError);
    async fn creates_once(create: A::Command, created: A::Event, what: &'static str);
}

impl<A> Check<A> for TestFramework<A>
where
    A: Aggregate<Services = (), Error = DomainError>,
    A::Command: Clone,
{
    async fn writes(given: Vec<A::Event>, command: A::Command, expected: Vec<A::Event>) {
        Self::with(())
            .given(given)
            .when_async(command)
            .await
            .then_expect_events(expected);
    }

    async fn refuses(given: Vec<A::Event>, command: A::Command, error: DomainError) {
        Self::with(())
            .given(given)
            .when_async(command)
            .await
            .then_expect_error(error);
    }

    async fn creates_once(create: A::Command, created: A::Event, what: &'static str) {
        Self::writes(vec![], create.clone(), vec![created.clone()]).await;
        Self::refuses(vec![created], create, DomainError::AlreadyExists(what)).await;
    }
}
