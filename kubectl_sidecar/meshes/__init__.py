"""One module per mesh (istio.py, linkerd.py, ...), each implementing base.py's Protocols;
registry.py is the one module that lists them. README: "Adding a mesh"."""
