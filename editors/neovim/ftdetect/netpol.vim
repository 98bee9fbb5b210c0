" .netpol files are netpol programs.
autocmd BufRead,BufNewFile *.netpol setfiletype netpol
