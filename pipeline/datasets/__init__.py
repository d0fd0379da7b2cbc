"""The public labelled corpora (AVeriTeC, FEVER, COVID-Fact, LIAR-PLUS, HealthVer, the seed claims) built
into claims files and corpus stores, and their held-out splits. Training and evaluation both read them."""
