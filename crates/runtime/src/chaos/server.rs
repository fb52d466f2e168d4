//! Served faults on a gRPC server.

use super::{Faults, Outcome, injected};

/// Applies a component's served faults to its gRPC server: innermost, so
/// its spans and metrics see an injected error as they see a real one.
#[derive(Debug, Clone)]
pub struct ServerFaultsLayer {
    faults: Faults,
}

impl ServerFaultsLayer {
    /// The layer of `faults`.
    pub fn new(faults: Faults) -> Self {
        Self { faults }
    }
}

impl<S> tower::Layer<S> for ServerFaultsLayer {
    type Service = ServerFaults<S>;

    fn layer(&self, inner: S) -> ServerFaults<S> {
        ServerFaults {
            inner,
            faults: self.faults.clone(),
        }
    }
}

/// The service made by [`ServerFaultsLayer`].
#[derive(Debug, Clone)]
pub struct ServerFaults<S> {
    inner: S,
    faults: Faults,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for ServerFaults<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(hit) = self.faults.on_served(request.uri().path()) else {
            let future = self.inner.call(request);
            return Box::pin(async move { future.await.map_err(Into::into) });
        };
        // The ready service answers this call; a clone waits its turn.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match hit.wait().await {
                Some(Outcome::Fail(code)) => Ok(injected(code).into_http()),
                // An error out of the service: the server resets the stream.
                Some(Outcome::Abort) => Err("injected fault: abort".into()),
                None => inner.call(request).await.map_err(Into::into),
            }
        })
    }
}
