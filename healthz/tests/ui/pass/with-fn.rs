use healthz::{CheckError, HealthChecks};

#[derive(HealthChecks)]
struct State {
    #[healthz(with = search_ping)]
    search: SearchClient,
    #[healthz(with = checks::queue_depth)]
    queue: Queue,
    #[healthz(with = Self::ping_own)]
    own: Queue,
}

impl State {
    async fn ping_own(queue: &Queue) -> Result<(), CheckError> {
        checks::queue_depth(queue)
            .await
            .map_err(|_| CheckError::unavailable("own queue."))
    }
}

struct SearchClient {
    up: bool,
}

async fn search_ping(client: &SearchClient) -> Result<(), CheckError> {
    tokio::task::yield_now().await;
    if client.up {
        Ok(())
    } else {
        Err(CheckError::unavailable("cannot reach search."))
    }
}

struct Queue {
    depth: usize,
}

mod checks {
    // Any error that converts into `CheckError` will do.
    pub async fn queue_depth(queue: &super::Queue) -> Result<(), std::io::Error> {
        tokio::task::yield_now().await;
        if queue.depth < 100 {
            Ok(())
        } else {
            Err(std::io::Error::other("queue too deep"))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let state = State {
        search: SearchClient { up: false },
        queue: Queue { depth: 7 },
        own: Queue { depth: 1_000 },
    };
    let search = state.__healthz_check(0).await.unwrap_err();
    assert_eq!(search.message(), "cannot reach search.");
    assert!(state.__healthz_check(1).await.is_ok());
    assert_eq!(
        state.__healthz_check(2).await.unwrap_err().message(),
        "own queue."
    );
    assert!(state.__healthz_check(3).await.is_err());
}
