/* credtool: seeds and lists Windows Credential Manager entries through the Windows API
 * (CredWriteW / CredEnumerateW), as Git Credential Manager and git's wincred helper write them.
 * Used only by .ci/check-windows-exe.sh inside a throwaway Wine prefix; never on a real machine.
 *
 *   credtool write <target> <user> <secret>   a generic credential, persisted per machine
 *   credtool list                             every target name, one per line (never a secret)
 *
 * Built with: x86_64-w64-mingw32-gcc -municode -O2 -o credtool.exe credtool.c -ladvapi32
 */
#include <windows.h>
#include <wincred.h>
#include <stdio.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv) {
    if (argc == 5 && wcscmp(argv[1], L"write") == 0) {
        CREDENTIALW cred = {0};
        cred.Type = CRED_TYPE_GENERIC;
        cred.TargetName = argv[2];
        cred.UserName = argv[3];
        cred.CredentialBlob = (LPBYTE)argv[4];
        cred.CredentialBlobSize = (DWORD)(wcslen(argv[4]) * sizeof(wchar_t));
        cred.Persist = CRED_PERSIST_LOCAL_MACHINE;
        if (!CredWriteW(&cred, 0)) {
            fwprintf(stderr, L"CredWriteW failed: %lu\n", GetLastError());
            return 1;
        }
        return 0;
    }
    if (argc == 2 && wcscmp(argv[1], L"list") == 0) {
        DWORD count = 0;
        PCREDENTIALW *creds = NULL;
        if (!CredEnumerateW(NULL, 0, &count, &creds)) {
            if (GetLastError() == ERROR_NOT_FOUND) return 0;
            fwprintf(stderr, L"CredEnumerateW failed: %lu\n", GetLastError());
            return 1;
        }
        for (DWORD i = 0; i < count; i++) wprintf(L"%ls\n", creds[i]->TargetName);
        CredFree(creds);
        return 0;
    }
    fwprintf(stderr, L"usage: credtool write <target> <user> <secret> | credtool list\n");
    return 2;
}
