# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS build
RUN powershell -Command `
    Write-Host 'C:\path\with\backslashes\'
FROM `
    mcr.microsoft.com/windows/nanoserver:ltsc2022
COPY --from=build C:\out C:\out
