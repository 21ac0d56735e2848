//! Making the next piece of a table (a slice read back, a store's row group) on a thread of its
//! own while the caller works on the one before: reading and encoding, or reading and hashing,
//! otherwise take turns, a core idle.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::Scope;

/// Make `pieces` one after another on a thread of `scope`, each handed over when the caller takes
/// it (a channel of no room): at most the piece being worked on and the next are in memory. The
/// thread stops after a piece that failed (handed over as it is), or once the receiver is dropped
/// (a caller that stopped early).
pub fn made_ahead<'scope, T, E>(scope: &'scope Scope<'scope, '_>, pieces: impl Iterator<Item = Result<T, E>> + Send + 'scope) -> Receiver<Result<T, E>>
where
    T: Send + 'scope,
    E: Send + 'scope,
{
    let (sender, receiver) = sync_channel(0);
    scope.spawn(move || {
        for piece in pieces {
            let failed = piece.is_err();
            if sender.send(piece).is_err() || failed {
                break;
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn pieces_come_in_order_and_stop_at_the_first_error_or_a_dropped_receiver() {
        std::thread::scope(|scope| {
            let all: Vec<Result<usize, String>> = made_ahead(scope, (0..5).map(Ok)).iter().collect();
            assert_eq!(all, (0..5).map(Ok).collect::<Vec<_>>());
            let failing = made_ahead(scope, (0..5).map(|i| if i == 2 { Err(format!("piece {i}")) } else { Ok(i) }));
            assert_eq!(failing.iter().collect::<Vec<_>>(), vec![Ok(0), Ok(1), Err("piece 2".to_owned())]);
        });
        let made = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let pieces = made_ahead(scope, (0..1_000).map(|i| {
                made.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(i)
            }));
            assert_eq!(pieces.recv(), Ok(Ok(0)));
            drop(pieces);
        });
        assert!(made.load(Ordering::SeqCst) <= 3, "stopped soon after the receiver was dropped");
    }
}
