/// `start(tls:)` takes a `TLSServerContext`: whoever starts a simulator over HTTPS gets the type with it.
@_exported import SimTLS
