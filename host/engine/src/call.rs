//! Calling a guest's `handle` and copying out what it returned, bounded (see `bounded`): the
//! list's length is checked before any element is read, and no string is copied past
//! [`LIFT_CAP`] bytes, more than any action field may hold.

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, ComponentType, Instance, Lower};

use crate::action::{Action, MAX_ACTIONS, MAX_MESSAGE_BYTES, ValidationError, quote_with_len};
use crate::bounded::{BoundedList, BoundedStr};
use crate::state::PressState;

/// Bytes of one guest string copied at most: twice the largest field any action may carry, so
/// a string cut here is one validation rejects.
const LIFT_CAP: usize = 2 * MAX_MESSAGE_BYTES;
/// Bytes of a guest's `err(...)` message kept in the record.
const MAX_GUEST_ERROR_BYTES: usize = 1024;

type Text = BoundedStr<LIFT_CAP>;

#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(record)]
struct RawNotification {
    subject: Text,
    message: Text,
}

#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(variant)]
enum RawAction {
    #[component(name = "snapshot")]
    Snapshot(Text),
    #[component(name = "notify")]
    Notify(RawNotification),
    #[component(name = "ignore")]
    Ignore(Text),
}

type HandleResult = Result<BoundedList<RawAction, MAX_ACTIONS>, BoundedStr<MAX_GUEST_ERROR_BYTES>>;
type Handle<C> = wasmtime::component::TypedFunc<(C,), (HandleResult,)>;

/// What `handle` returned, copied out of the guest.
pub(crate) enum Returned {
    /// `ok(list)`: the actions, each with the true length of any field cut at [`LIFT_CAP`].
    Actions(Vec<LiftedAction>),
    /// The list was longer than any press may return; no element was read.
    TooMany(usize),
    /// `err(message)`, truncated.
    GuestError(String),
}

/// One action, with the true byte lengths of its first and second string fields when they
/// were cut (region/subject/reason, message).
pub(crate) struct LiftedAction {
    pub(crate) action: Action,
    cut: [Option<usize>; 2],
}

/// Calls `handle(click)` on an instantiated guest; `C` is the click record of the guest's
/// contract version (the result's shape is the same in every version).
pub(crate) fn call_handle<C>(
    store: &mut Store<PressState>,
    instance: &Instance,
    export: &ComponentExportIndex,
    click: C,
) -> wasmtime::Result<Returned>
where
    C: ComponentType + Lower + Send + Sync + 'static,
{
    let handle: Handle<C> = instance.get_typed_func(&mut *store, export)?;
    let (returned,) = handle.call(&mut *store, (click,))?;
    Ok(match returned {
        Err(message) => Returned::GuestError(if message.is_cut() {
            format!("{}...", message.text)
        } else {
            message.text
        }),
        Ok(list) if list.len > MAX_ACTIONS => Returned::TooMany(list.len),
        Ok(list) => Returned::Actions(list.items.into_iter().map(lift).collect()),
    })
}

fn lift(raw: RawAction) -> LiftedAction {
    let cut = |s: &Text| s.is_cut().then_some(s.len);
    match raw {
        RawAction::Snapshot(region) => LiftedAction {
            cut: [cut(&region), None],
            action: Action::Snapshot {
                region: region.text,
            },
        },
        RawAction::Notify(n) => LiftedAction {
            cut: [cut(&n.subject), cut(&n.message)],
            action: Action::Notify {
                subject: n.subject.text,
                message: n.message.text,
            },
        },
        RawAction::Ignore(reason) => LiftedAction {
            cut: [cut(&reason), None],
            action: Action::Ignore {
                reason: reason.text,
            },
        },
    }
}

/// Puts the true length of a field cut at [`LIFT_CAP`] back into the error about it.
pub(crate) fn with_true_length(
    error: ValidationError,
    actions: &[LiftedAction],
) -> ValidationError {
    let index = match &error {
        ValidationError::InvalidRegion { index, .. }
        | ValidationError::SubjectLength { index, .. }
        | ValidationError::MessageLength { index, .. }
        | ValidationError::IgnoreReasonTooLong { index, .. } => *index,
        _ => return error,
    };
    let Some(lifted) = actions.get(index) else {
        return error;
    };
    match (error, lifted.cut) {
        (ValidationError::InvalidRegion { index, region }, [Some(len), _]) => {
            match &lifted.action {
                Action::Snapshot { region: kept } => ValidationError::InvalidRegion {
                    index,
                    region: quote_with_len(kept, len),
                },
                _ => ValidationError::InvalidRegion { index, region },
            }
        }
        (ValidationError::SubjectLength { index, max, .. }, [Some(len), _]) => {
            ValidationError::SubjectLength { index, len, max }
        }
        (ValidationError::MessageLength { index, max, .. }, [_, Some(len)]) => {
            ValidationError::MessageLength { index, len, max }
        }
        (ValidationError::IgnoreReasonTooLong { index, max, .. }, [Some(len), _]) => {
            ValidationError::IgnoreReasonTooLong { index, len, max }
        }
        (error, _) => error,
    }
}
