"""The local dashboard (`pursuit web`): server-rendered pages over the same use cases as
the command line. Imported only by `pursuit web` and a service that serves it, so
`pursuit status` never pays for the web framework."""
