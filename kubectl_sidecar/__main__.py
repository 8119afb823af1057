from kubectl_sidecar.cli import main

main()
